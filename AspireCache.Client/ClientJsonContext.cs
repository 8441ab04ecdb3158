using System.Text.Json;
using System.Text.Json.Serialization;
using AspireCache.Contracts;

namespace AspireCache.Client;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WriteResponse))]
[JsonSerializable(typeof(AccessReport))]
[JsonSerializable(typeof(ClusterStatusResponse))]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(ChangeEvent))]
[JsonSerializable(typeof(WatchProgress))]
[JsonSerializable(typeof(WatchClosed))]
[JsonSerializable(typeof(ProgressResponse))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
