using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using AspireCache.Client;

namespace AspireCache.Bench;

internal enum OpStatus
{
    Ok,
    NotFound,
    Error,
}

/// <summary>Outcome of one request. <see cref="Value"/> points into the worker's buffers and is valid until its next request.</summary>
internal readonly record struct OpResult(OpStatus Status, string? Error, ReadOnlyMemory<byte> Value)
{
    public static readonly OpResult Written = new(OpStatus.Ok, null, ReadOnlyMemory<byte>.Empty);
    public static readonly OpResult Missing = new(OpStatus.NotFound, null, ReadOnlyMemory<byte>.Empty);

    public static OpResult Failed(string error) => new(OpStatus.Error, error, ReadOnlyMemory<byte>.Empty);
}

/// <summary>Per-worker state: its target, its random source and buffers reused by every request.</summary>
internal sealed class WorkerContext(int id, int targetIndex, int seed, int valueSize)
{
    public int Id { get; } = id;

    public int TargetIndex { get; } = targetIndex;

    public Random Random { get; } = new(seed);

    /// <summary>Request body scratch (etcd JSON).</summary>
    public byte[] SendBuffer = new byte[Math.Max(256, (valueSize + 2) / 3 * 4 + 1024)];

    /// <summary>Response body.</summary>
    public byte[] ReceiveBuffer = new byte[Math.Max(4096, valueSize * 2 + 1024)];

    /// <summary>Decoded value (etcd base64).</summary>
    public byte[] ValueBuffer = new byte[Math.Max(256, valueSize + 16)];

    /// <summary>The value this worker writes.</summary>
    public byte[] Value = new byte[valueSize];
}

/// <summary>One key-value protocol over a shared <see cref="HttpClient"/>. Keys are indices into a fixed table.</summary>
internal abstract class KvClient(HttpClient http, IList<Uri> targets, string[] keys)
{
    private static readonly string[] StatusNames = CreateStatusNames();
    private static readonly ConcurrentDictionary<string, string> Interned = new(StringComparer.Ordinal);

    protected HttpClient Http { get; } = http;

    protected IList<Uri> Targets { get; } = targets;

    protected string[] Keys { get; } = keys;

    /// <summary>
    /// The protocol client for <paramref name="options"/>: etcd (raw), AspireCache through
    /// AspireCache.Client (<see cref="LibraryAspireCacheClient"/>, over <paramref name="handler"/>) or raw
    /// (<see cref="RawAspireCacheClient"/>, over <paramref name="http"/>), as <see cref="BenchOptions.EffectiveClient"/> says.
    /// </summary>
    public static KvClient Create(BenchOptions options, HttpMessageHandler handler, HttpClient http, string[] keys, bool linearizable) =>
        Create(options, options.Targets, handler, http, keys, linearizable);

    /// <inheritdoc cref="Create(BenchOptions, HttpMessageHandler, HttpClient, string[], bool)"/>
    public static KvClient Create(BenchOptions options, IList<Uri> targets, HttpMessageHandler handler, HttpClient http, string[] keys, bool linearizable) =>
        options.System == BenchSystem.Etcd
            ? new EtcdClient(http, targets, keys, linearizable)
            : options.EffectiveClient is ClientKind.Library or ClientKind.Direct
                ? new LibraryAspireCacheClient(handler, http, targets, keys, linearizable, options.RequestTimeout, options.AspireCacheCredential, direct: options.EffectiveClient == ClientKind.Direct, coalesceReads: options.CoalesceReads, coalesceWrites: options.CoalesceWrites)
                : new RawAspireCacheClient(http, targets, keys, linearizable) { IdempotencyKeys = options.IdempotencyKeys };

    public abstract ValueTask<OpResult> PutAsync(WorkerContext worker, int key, ReadOnlyMemory<byte> value, CancellationToken token);

    public abstract ValueTask<OpResult> GetAsync(WorkerContext worker, int key, CancellationToken token);

    /// <summary>Sends the request and reads the whole body into <see cref="WorkerContext.ReceiveBuffer"/>.</summary>
    protected async ValueTask<(HttpStatusCode Status, int Length)> SendAsync(HttpRequestMessage request, WorkerContext worker, CancellationToken token)
    {
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
        var length = 0;
        using (var stream = await response.Content.ReadAsStreamAsync(token))
        {
            while (true)
            {
                if (length == worker.ReceiveBuffer.Length)
                {
                    Array.Resize(ref worker.ReceiveBuffer, worker.ReceiveBuffer.Length * 2);
                }

                var read = await stream.ReadAsync(worker.ReceiveBuffer.AsMemory(length), token);
                if (read == 0)
                {
                    break;
                }

                length += read;
            }
        }

        return (response.StatusCode, length);
    }

    /// <summary>A failure of the request itself, as opposed to the caller's own cancellation (which propagates).</summary>
    protected static bool IsRequestFailure(Exception ex, CancellationToken token) =>
        ex switch
        {
            OperationCanceledException => !token.IsCancellationRequested,
            HttpRequestException or TimeoutException or IOException => true,
            _ => false,
        };

    /// <summary>Maps a request failure to an error kind.</summary>
    protected static OpResult Classify(Exception ex) =>
        OpResult.Failed(ex switch
        {
            OperationCanceledException or TimeoutException => "Timeout",
            HttpRequestException h when h.HttpRequestError != HttpRequestError.Unknown => Intern("HttpRequestException:" + h.HttpRequestError),
            HttpRequestException h when h.InnerException is not null => Intern("HttpRequestException:" + h.InnerException.GetType().Name),
            _ => Intern(ex.GetType().Name),
        });

    /// <summary>"HTTP 503 (timeout)": the status plus the problem type / etcd error, read only on the error path.</summary>
    protected static string HttpError(HttpStatusCode status, ReadOnlySpan<byte> body) => HttpError((int)status, ErrorDetail(body));

    /// <summary>"HTTP 503 (timeout)" from a status and a problem type URI (its last segment) or detail.</summary>
    protected static string HttpError(int code, string? detail)
    {
        var name = code is >= 0 and < 600 ? StatusNames[code] : "HTTP " + code.ToString(CultureInfo.InvariantCulture);
        if (detail is not null && detail.LastIndexOf('/') is var slash and >= 0 && slash < detail.Length - 1)
        {
            detail = detail[(slash + 1)..];
        }

        return detail is null ? name : Intern($"{name} ({detail})");
    }

    private static string? ErrorDetail(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty || body[0] != (byte)'{')
        {
            return null;
        }

        try
        {
            var reader = new Utf8JsonReader(body);
            string? type = null, error = null;
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                var isType = reader.ValueTextEquals("type"u8);
                var isError = reader.ValueTextEquals("error"u8) || reader.ValueTextEquals("message"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    if (isType)
                    {
                        type = reader.GetString();
                    }
                    else if (isError)
                    {
                        error ??= reader.GetString();
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            if (type is not null)
            {
                var slash = type.LastIndexOf('/');
                return slash >= 0 && slash < type.Length - 1 ? type[(slash + 1)..] : type;
            }

            return error is { Length: > 80 } ? error[..80] : error;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    protected static string Intern(string value) => Interned.GetOrAdd(value, value);

    private static string[] CreateStatusNames()
    {
        var names = new string[600];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = "HTTP " + i.ToString(CultureInfo.InvariantCulture);
        }

        return names;
    }
}

/// <summary>
/// AspireCache through AspireCache.Client, the way a .NET service talks to it: one
/// <see cref="IAspireCacheClient"/> per target, all on the tool's one pooled handler (so the connection
/// limit is the same as the raw client's). Each call is bounded by <c>--request-timeout</c> as its
/// deadline; what the client retries inside a call (421, 503, lost connections) is not an error here but
/// is counted by <see cref="ClientRetries"/> and reported. <c>--client library</c> in load mode (the default
/// there is <see cref="RawAspireCacheClient"/>, which costs the tool less CPU per operation: see
/// <see cref="BenchOptions.EffectiveClient"/>); the default of watch mode's writer.
/// </summary>
internal sealed class LibraryAspireCacheClient : KvClient
{
    private static readonly Client.ReadOptions Linearizable = new() { Consistency = Consistency.Linearizable };
    private static readonly Client.ReadOptions Stale = new() { Consistency = Consistency.Stale };

    private readonly IAspireCacheClient[] _clients;
    private readonly Client.ReadOptions _read;

    public LibraryAspireCacheClient(HttpMessageHandler handler, HttpClient http, IList<Uri> targets, string[] keys, bool linearizable, TimeSpan deadline, string? credential = null, bool direct = false, bool coalesceReads = true, bool coalesceWrites = true)
        : base(http, targets, keys)
    {
        _read = linearizable ? Linearizable : Stale;
        var options = new AspireCacheClientOptions { Deadline = deadline, Credential = credential, CoalesceReads = coalesceReads, CoalesceWrites = coalesceWrites };
        _clients = new IAspireCacheClient[targets.Count];
        if (direct)
        {
            // One client for every worker, as one service process has: the targets are its nodes.
            options.Nodes = [.. targets];
            var shared = new Client.AspireCacheClient(BenchRunner.CreateHttpClient(handler, Timeout.InfiniteTimeSpan, targets[0]), options);
            Array.Fill(_clients, shared);
            return;
        }

        for (var i = 0; i < targets.Count; i++)
        {
            // The deadline bounds each call; the HttpClient's own timeout would cut a call short without the client knowing why.
            _clients[i] = new Client.AspireCacheClient(BenchRunner.CreateHttpClient(handler, Timeout.InfiniteTimeSpan, targets[i]), options);
        }
    }

    /// <summary>The client of target <paramref name="index"/> (for modes that need more than get and put).</summary>
    public IAspireCacheClient For(int index) => _clients[index];

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> PutAsync(WorkerContext worker, int key, ReadOnlyMemory<byte> value, CancellationToken token)
    {
        try
        {
            await _clients[worker.TargetIndex].SetAsync(Keys[key], value, null, token);
            return OpResult.Written;
        }
        catch (Exception ex) when (ex is AspireCacheException || IsRequestFailure(ex, token))
        {
            return Failed(ex);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> GetAsync(WorkerContext worker, int key, CancellationToken token)
    {
        try
        {
            var item = await _clients[worker.TargetIndex].GetAsync(Keys[key], _read, token);
            return item is null ? OpResult.Missing : new OpResult(OpStatus.Ok, null, item.Value);
        }
        catch (Exception ex) when (ex is AspireCacheException || IsRequestFailure(ex, token))
        {
            return Failed(ex);
        }
    }

    /// <summary>The same kinds as the raw client where they exist ("HTTP 503 (no-node)"), plus the client's own verdicts.</summary>
    internal static OpResult Failed(Exception ex) => ex switch
    {
        // Every attempt failed and one may have been applied: the write's outcome is unknown.
        OutcomeUnknownException => OpResult.Failed("OutcomeUnknown"),
        AspireCacheException { Status: > 0 } a => OpResult.Failed(HttpError(a.Status, a.Type)),
        UnavailableException { InnerException: { } inner } => OpResult.Failed(Intern("Unavailable:" + Classify(inner).Error)),
        UnavailableException => OpResult.Failed("Unavailable"),
        _ => Classify(ex),
    };
}

/// <summary>
/// AspireCache over hand-written HTTP: <c>PUT /cache/{key}</c> raw bytes, <c>GET /cache/{key}?consistent=...</c>,
/// one request per operation, every failure reported as it came, no per-call bookkeeping (a <c>--api-key</c>
/// is a default header of the shared HttpClient: <see cref="BenchRunner.Authorize"/>). The default of
/// load mode (least CPU taken from the servers it measures, like the raw etcd client it is compared with)
/// and of failover mode (each attempt visible); see <see cref="BenchOptions.EffectiveClient"/>.
/// </summary>
internal sealed class RawAspireCacheClient : KvClient
{
    private readonly Uri?[][] _writeUris;
    private readonly Uri?[][] _readUris;
    private readonly string _readQuery;

    /// <summary>Send a fresh <c>Idempotency-Key</c> with every write (what the router does for clients that do not).</summary>
    public bool IdempotencyKeys { get; init; }

    public RawAspireCacheClient(HttpClient http, IList<Uri> targets, string[] keys, bool linearizable)
        : base(http, targets, keys)
    {
        _readQuery = linearizable ? "?consistent=true" : "?consistent=false";
        _writeUris = new Uri?[targets.Count][];
        _readUris = new Uri?[targets.Count][];
        for (var i = 0; i < targets.Count; i++)
        {
            _writeUris[i] = new Uri?[keys.Length];
            _readUris[i] = new Uri?[keys.Length];
        }
    }

    /// <summary>Keys are made of safe characters; '/' stays a path separator (the route is a catch-all).</summary>
    public static string EscapeKey(string key) => Uri.EscapeDataString(key).Replace("%2F", "/", StringComparison.Ordinal);

    private Uri WriteUri(int target, int key) =>
        _writeUris[target][key] ??= new Uri(Targets[target], "cache/" + EscapeKey(Keys[key]));

    private Uri ReadUri(int target, int key) =>
        _readUris[target][key] ??= new Uri(Targets[target], "cache/" + EscapeKey(Keys[key]) + _readQuery);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> PutAsync(WorkerContext worker, int key, ReadOnlyMemory<byte> value, CancellationToken token)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, WriteUri(worker.TargetIndex, key))
            {
                Content = new ReadOnlyMemoryContent(value),
            };
            if (IdempotencyKeys)
            {
                request.Headers.TryAddWithoutValidation(CacheHeaders.IdempotencyKey, Guid.NewGuid().ToString("N"));
            }

            var (status, length) = await SendAsync(request, worker, token);
            return status is HttpStatusCode.OK or HttpStatusCode.Created or HttpStatusCode.NoContent
                ? OpResult.Written
                : OpResult.Failed(HttpError(status, worker.ReceiveBuffer.AsSpan(0, length)));
        }
        catch (Exception ex) when (IsRequestFailure(ex, token))
        {
            return Classify(ex);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> GetAsync(WorkerContext worker, int key, CancellationToken token)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, ReadUri(worker.TargetIndex, key));
            var (status, length) = await SendAsync(request, worker, token);
            return status switch
            {
                HttpStatusCode.OK => new OpResult(OpStatus.Ok, null, worker.ReceiveBuffer.AsMemory(0, length)),
                HttpStatusCode.NotFound => OpResult.Missing,
                _ => OpResult.Failed(HttpError(status, worker.ReceiveBuffer.AsSpan(0, length))),
            };
        }
        catch (Exception ex) when (IsRequestFailure(ex, token))
        {
            return Classify(ex);
        }
    }
}

/// <summary>etcd v3 JSON gateway: <c>POST /v3/kv/put</c> and <c>POST /v3/kv/range</c>, keys and values base64.</summary>
internal sealed class EtcdClient : KvClient
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly byte[] PutPrefix = "{\"key\":\""u8.ToArray();
    private static readonly byte[] PutMiddle = "\",\"value\":\""u8.ToArray();
    private static readonly byte[] PutSuffix = "\"}"u8.ToArray();
    private static readonly byte[] RangeLinearizable = "\",\"serializable\":false}"u8.ToArray();
    private static readonly byte[] RangeSerializable = "\",\"serializable\":true}"u8.ToArray();

    private readonly Uri[] _putUris;
    private readonly Uri[] _rangeUris;
    private readonly byte[]?[] _base64Keys;
    private readonly byte[] _rangeSuffix;

    public EtcdClient(HttpClient http, IList<Uri> targets, string[] keys, bool linearizable)
        : base(http, targets, keys)
    {
        _putUris = new Uri[targets.Count];
        _rangeUris = new Uri[targets.Count];
        for (var i = 0; i < targets.Count; i++)
        {
            _putUris[i] = new Uri(targets[i], "v3/kv/put");
            _rangeUris[i] = new Uri(targets[i], "v3/kv/range");
        }

        _base64Keys = new byte[keys.Length][];
        _rangeSuffix = linearizable ? RangeLinearizable : RangeSerializable;
    }

    private byte[] Base64Key(int key) =>
        _base64Keys[key] ??= Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(Keys[key])));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> PutAsync(WorkerContext worker, int key, ReadOnlyMemory<byte> value, CancellationToken token)
    {
        try
        {
            var length = BuildPut(worker, Base64Key(key), value.Span);
            using var request = new HttpRequestMessage(HttpMethod.Post, _putUris[worker.TargetIndex])
            {
                Content = Body(worker, length),
            };
            var (status, received) = await SendAsync(request, worker, token);
            return status == HttpStatusCode.OK
                ? OpResult.Written
                : OpResult.Failed(HttpError(status, worker.ReceiveBuffer.AsSpan(0, received)));
        }
        catch (Exception ex) when (IsRequestFailure(ex, token))
        {
            return Classify(ex);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<OpResult> GetAsync(WorkerContext worker, int key, CancellationToken token)
    {
        try
        {
            var length = BuildRange(worker, Base64Key(key));
            using var request = new HttpRequestMessage(HttpMethod.Post, _rangeUris[worker.TargetIndex])
            {
                Content = Body(worker, length),
            };
            var (status, received) = await SendAsync(request, worker, token);
            return status == HttpStatusCode.OK
                ? ParseRange(worker, received)
                : OpResult.Failed(HttpError(status, worker.ReceiveBuffer.AsSpan(0, received)));
        }
        catch (Exception ex) when (IsRequestFailure(ex, token))
        {
            return Classify(ex);
        }
    }

    private static ByteArrayContent Body(WorkerContext worker, int length)
    {
        var content = new ByteArrayContent(worker.SendBuffer, 0, length);
        content.Headers.ContentType = Json;
        return content;
    }

    private static int BuildPut(WorkerContext worker, byte[] key, ReadOnlySpan<byte> value)
    {
        var needed = PutPrefix.Length + key.Length + PutMiddle.Length + Base64.GetMaxEncodedToUtf8Length(value.Length) + PutSuffix.Length;
        if (worker.SendBuffer.Length < needed)
        {
            worker.SendBuffer = new byte[needed * 2];
        }

        var span = worker.SendBuffer.AsSpan();
        var pos = Append(span, 0, PutPrefix);
        pos = Append(span, pos, key);
        pos = Append(span, pos, PutMiddle);
        Base64.EncodeToUtf8(value, span[pos..], out _, out var written);
        pos += written;
        return Append(span, pos, PutSuffix);
    }

    private int BuildRange(WorkerContext worker, byte[] key)
    {
        var needed = PutPrefix.Length + key.Length + _rangeSuffix.Length;
        if (worker.SendBuffer.Length < needed)
        {
            worker.SendBuffer = new byte[needed * 2];
        }

        var span = worker.SendBuffer.AsSpan();
        var pos = Append(span, 0, PutPrefix);
        pos = Append(span, pos, key);
        return Append(span, pos, _rangeSuffix);
    }

    private static int Append(Span<byte> destination, int position, ReadOnlySpan<byte> source)
    {
        source.CopyTo(destination[position..]);
        return position + source.Length;
    }

    /// <summary>Finds <c>kvs[0].value</c> in a range response; no <c>kvs</c> means not found.</summary>
    private static OpResult ParseRange(WorkerContext worker, int length)
    {
        var reader = new Utf8JsonReader(worker.ReceiveBuffer.AsSpan(0, length));
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1 || !reader.ValueTextEquals("kvs"u8))
            {
                continue;
            }

            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray || !reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return OpResult.Missing;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isValue = reader.ValueTextEquals("value"u8);
                reader.Read();
                if (!isValue)
                {
                    reader.Skip();
                    continue;
                }

                if (reader.ValueIsEscaped)
                {
                    var bytes = reader.GetBytesFromBase64();
                    return new OpResult(OpStatus.Ok, null, bytes);
                }

                var text = reader.ValueSpan;
                var max = Base64.GetMaxDecodedFromUtf8Length(text.Length);
                if (worker.ValueBuffer.Length < max)
                {
                    worker.ValueBuffer = new byte[max * 2];
                }

                Base64.DecodeFromUtf8(text, worker.ValueBuffer, out _, out var written);
                return new OpResult(OpStatus.Ok, null, worker.ValueBuffer.AsMemory(0, written));
            }

            // A key with an empty value: proto3 omits the field.
            return new OpResult(OpStatus.Ok, null, ReadOnlyMemory<byte>.Empty);
        }

        return OpResult.Missing;
    }
}
