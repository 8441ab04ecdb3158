using System.Text.Json;
using System.Text.Json.Serialization;
using AspireCache.Node.Raft;

namespace AspireCache.Node.Api;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WriteResponse))]
[JsonSerializable(typeof(AccessReport))]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(ClusterStatusResponse))]
[JsonSerializable(typeof(ListResponse))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(HotKeysResponse))]
[JsonSerializable(typeof(Faults.FaultInjectionExtensions.PartitionRequest))]
[JsonSerializable(typeof(AdminApi.AdminResult))]
[JsonSerializable(typeof(ReadIndexResponse))]
[JsonSerializable(typeof(ProgressResponse))]
[JsonSerializable(typeof(ChangeEvent))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
