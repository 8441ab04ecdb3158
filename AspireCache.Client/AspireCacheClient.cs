using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using AspireCache.Contracts;

namespace AspireCache.Client;

/// <summary>
/// <see cref="IAspireCacheClient"/> over <see cref="HttpClient"/>, normally pointed at the router.
/// Thread-safe; one instance per application (per cache) is enough.
/// </summary>
/// <remarks>
/// The <see cref="HttpClient"/> must not carry a generic resilience handler (ServiceDefaults'
/// standard one): this client retries by its own rules, which know which failures leave a write's
/// outcome unknown; a generic circuit breaker would open on the 503s of an election, and its
/// retries would multiply with these and the router's. <c>AddAspireCacheClient</c> registers its
/// client that way. Its <see cref="HttpClient.Timeout"/> is not used: each call is bounded by its
/// deadline (set the timeout to <see cref="Timeout.InfiniteTimeSpan"/> for watches).
/// </remarks>
public sealed partial class AspireCacheClient : IAspireCacheClient, IAsyncDisposable
{
    private static readonly MediaTypeHeaderValue OctetStream = new("application/octet-stream");

    private readonly Func<HttpClient> _http;
    private readonly AspireCacheClientOptions _options;

    /// <summary>Creates a client over <paramref name="httpClient"/>, whose <see cref="HttpClient.BaseAddress"/> is the router (or a node).</summary>
    /// <param name="httpClient">An HttpClient without resilience handlers; its BaseAddress must be set.</param>
    /// <param name="options">Deadline, retry delays, credential; defaults if null.</param>
    public AspireCacheClient(HttpClient httpClient, AspireCacheClientOptions? options = null)
        : this(() => httpClient, options)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        if (httpClient.BaseAddress is null && options?.Nodes is not { Count: > 0 })
        {
            throw new ArgumentException("The HttpClient needs a BaseAddress (the router's URL).", nameof(httpClient));
        }
    }

    /// <summary>Creates a client that takes an HttpClient from <paramref name="httpClientFactory"/> per call (as IHttpClientFactory clients are meant to be used).</summary>
    /// <param name="httpClientFactory">Returns an HttpClient with BaseAddress set and no resilience handlers.</param>
    /// <param name="options">Deadline, retry delays, credential; defaults if null.</param>
    public AspireCacheClient(Func<HttpClient> httpClientFactory, AspireCacheClientOptions? options = null)
    {
        _http = httpClientFactory ?? throw new ArgumentNullException(nameof(httpClientFactory));
        _options = options ?? new AspireCacheClientOptions();
        _direct = _options.Nodes is { Count: > 0 } nodes ? new Direct.NodeDirectory(_http, nodes, _options.Credential) : null;
        _coalescer = _options.CoalesceReads ? new ReadCoalescer(_http, (request, node) => Prepare(request, node, idempotencyKey: null)) : null;
        _writeCoalescer = _options.CoalesceWrites ? new WriteCoalescer(_http, (request, node) => Prepare(request, node, idempotencyKey: null)) : null;
        _nearCache = _options.NearCache is { } near ? new NearCache.NearCache(this, near) : null;
    }

    private readonly Direct.NodeDirectory? _direct;
    private readonly ReadCoalescer? _coalescer;
    private readonly WriteCoalescer? _writeCoalescer;

    /// <summary>The write coalescing, if on (for tests).</summary>
    internal WriteCoalescer? WriteCoalescer => _writeCoalescer;

    /// <summary>Direct mode's view of the nodes, if <see cref="AspireCacheClientOptions.Nodes"/> is set (for tests).</summary>
    internal Direct.NodeDirectory? Direct => _direct;

    /// <summary>The read coalescing, if on (for tests).</summary>
    internal ReadCoalescer? Coalescer => _coalescer;

    private readonly NearCache.NearCache? _nearCache;

    /// <summary>The near cache, if <see cref="AspireCacheClientOptions.NearCache"/> is set (for tests).</summary>
    internal NearCache.NearCache? NearCache => _nearCache;

    /// <summary>Stops the near cache's watch stream (if any), sends its last access report, and stops following the leader (direct mode).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_nearCache is not null)
        {
            await _nearCache.DisposeAsync().ConfigureAwait(false);
        }

        if (_direct is not null)
        {
            await _direct.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task<CacheItem?> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        if (CachePaths.IsReservedKey(key))
        {
            // Reserved names are endpoints (or POST-only): such keys can never be written.
            return null;
        }

        var consistency = options?.Consistency ?? _options.DefaultConsistency;
        if (consistency is Consistency.LinearizableNearCache or Consistency.BoundedStaleness
            || (consistency == Consistency.Stale && _nearCache is not null))
        {
            return _nearCache is not null
                ? await _nearCache.GetAsync(key, consistency, options?.MaxStaleness, options, cancellationToken).ConfigureAwait(false)
                : (await GetFromServerAsync(key, stale: false, options, cancellationToken).ConfigureAwait(false)).Item;
        }

        return (await GetFromServerAsync(key, consistency == Consistency.Stale, options, cancellationToken).ConfigureAwait(false)).Item;
    }

    /// <summary>
    /// <c>GET /cache/{key}</c> from the cluster: the key's state (null if absent) and the revision it
    /// was read at (<c>X-AspireCache-Revision</c>; null from a server that does not send it).
    /// </summary>
    internal async Task<(CacheItem? Item, long? Revision)> GetFromServerAsync(string key, bool stale, ReadOptions? options, CancellationToken cancellationToken)
    {
        var path = KeyPath(key) + (stale ? "?consistent=false" : "");
        // The node reports the time left (X-AspireCache-Ttl-Ms) when it read; counted from before the
        // request left, the expiry is never later than the node's (a sliding refresh decided on it is never late).
        var sent = DateTimeOffset.UtcNow;
        using var call = new Call(this, "get", isWrite: false, options?.Deadline, cancellationToken, linearizableRead: !stale);
        ReadCoalescer.Group? slot = null;
        try
        {
            if (_coalescer is not null)
            {
                // Together with the reads for the same node (direct mode) or the router that wait for this client's request in flight.
                var node = _direct?.Target(write: false, call.ReadAtLeader);
                var entry = await _coalescer.EnterAsync(node, stale, key, call.Token).ConfigureAwait(false);
                if (entry.Answered)
                {
                    call.Coalesced(entry.BatchSize);
                    return (entry.Item, entry.Revision);
                }

                slot = entry.Slot;
            }

            using var response = await call.SendAsync(
                () => new HttpRequestMessage(HttpMethod.Get, path),
                slot is null ? null : () => { _coalescer!.Release(slot); slot = null; }).ConfigureAwait(false);
            var revision = RevisionOf(response);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                // 404 of the key (not of a route): only a problem of type not-found carries a revision.
                return (null, revision);
            }

            await EnsureSuccessAsync(response, key, call.Token).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(call.Token).ConfigureAwait(false);
            return (new CacheItem(key, bytes, VersionOf(response) ?? 0, ExpiresAtOf(response, sent)), revision);
        }
        catch (Exception ex)
        {
            throw call.Fail(ex);
        }
        finally
        {
            if (slot is not null)
            {
                _coalescer!.Release(slot); // what queued behind this GET goes now
            }
        }
    }

    /// <inheritdoc />
    public async Task<long> SetAsync(string key, ReadOnlyMemory<byte> value, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        if (options is { IfAbsent: true, IfVersion: not null })
        {
            throw new ArgumentException("IfAbsent and IfVersion exclude each other.", nameof(options));
        }

        var query = new List<string>(2);
        if (options?.Ttl is { } ttl)
        {
            var ms = (long)Math.Ceiling(ttl.TotalMilliseconds);
            query.Add("ttl=" + Math.Max(ms, 1).ToString(CultureInfo.InvariantCulture) + "ms");
        }

        if (options?.Pin == true)
        {
            query.Add("pin=true");
        }

        var queryString = query.Count == 0 ? "" : "?" + string.Join('&', query);
        var path = KeyPath(key) + queryString;
        var ifMatch = options?.IfVersion is { } version ? ETag(version) : null;
        var ifNoneMatch = options?.IfAbsent == true ? "*" : null;
        using var call = new Call(this, "set", isWrite: true, options?.Deadline, cancellationToken);
        try
        {
            var coalesced = _writeCoalescer is null ? null : call.BatchWrite(WriteBatchWire.Put, key, queryString, ifMatch, ifNoneMatch, value);
            using var response = await call.SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = new ReadOnlyMemoryContent(value) };
                request.Content.Headers.ContentType = OctetStream;
                if (ifMatch is not null)
                {
                    request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
                }
                else if (ifNoneMatch is not null)
                {
                    request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
                }

                return request;
            }, coalesced: coalesced).ConfigureAwait(false);
            await EnsureSuccessAsync(response, key, call.Token).ConfigureAwait(false);
            if (VersionOf(response) is { } etag)
            {
                return etag;
            }

            var body = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.WriteResponse, call.Token).ConfigureAwait(false);
            return body!.Version;
        }
        catch (Exception ex)
        {
            throw call.Fail(ex);
        }
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string key, long? ifVersion = null, CallOptions? options = null, CancellationToken cancellationToken = default)
    {
        ValidateKey(key);
        var path = KeyPath(key);
        using var call = new Call(this, "delete", isWrite: true, options?.Deadline, cancellationToken);
        try
        {
            var ifMatch = ifVersion is { } version ? ETag(version) : null;
            var coalesced = _writeCoalescer is null ? null : call.BatchWrite(WriteBatchWire.Delete, key, "", ifMatch, null, ReadOnlyMemory<byte>.Empty);
            using var response = await call.SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Delete, path);
                if (ifMatch is not null)
                {
                    request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
                }

                return request;
            }, coalesced: coalesced).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }

            await EnsureSuccessAsync(response, key, call.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex)
        {
            throw call.Fail(ex);
        }
    }

    /// <inheritdoc />
    public async Task<long> BatchAsync(
        IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? sets,
        IReadOnlyCollection<string>? deletes = null,
        IReadOnlyDictionary<string, long>? conditions = null,
        CallOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var body = new BatchRequest
        {
            Set = sets?.ToDictionary(p => p.Key, p => Convert.ToBase64String(p.Value.Span), StringComparer.Ordinal),
            Delete = deletes?.ToList(),
            If = conditions?.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal),
        };
        var json = JsonSerializer.SerializeToUtf8Bytes(body, ClientJsonContext.Default.BatchRequest);
        using var call = new Call(this, "batch", isWrite: true, options?.Deadline, cancellationToken);
        try
        {
            using var response = await call.SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, CachePaths.Batch) { Content = new ByteArrayContent(json) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                return request;
            }).ConfigureAwait(false);
            await EnsureSuccessAsync(response, null, call.Token).ConfigureAwait(false);
            var result = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.BatchResponse, call.Token).ConfigureAwait(false);
            return result!.Version;
        }
        catch (Exception ex)
        {
            throw call.Fail(ex);
        }
    }

    /// <inheritdoc />
    public async Task<ListResponse> ListPageAsync(string prefix, string? after = null, int? limit = null, bool values = true, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var query = new StringBuilder(CachePaths.Keys).Append("?prefix=").Append(Uri.EscapeDataString(prefix));
        if (after is not null)
        {
            query.Append("&after=").Append(Uri.EscapeDataString(after));
        }

        if (limit is { } n)
        {
            query.Append("&limit=").Append(n.ToString(CultureInfo.InvariantCulture));
        }

        if (!values)
        {
            query.Append("&values=false");
        }

        var linearizable = (options?.Consistency ?? _options.DefaultConsistency) != Consistency.Stale;
        if (!linearizable)
        {
            query.Append("&consistent=false");
        }

        var path = query.ToString();
        using var call = new Call(this, "list", isWrite: false, options?.Deadline, cancellationToken, linearizableRead: linearizable);
        try
        {
            using var response = await call.SendAsync(() => new HttpRequestMessage(HttpMethod.Get, path)).ConfigureAwait(false);
            await EnsureSuccessAsync(response, null, call.Token).ConfigureAwait(false);
            return (await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ListResponse, call.Token).ConfigureAwait(false))!;
        }
        catch (Exception ex)
        {
            throw call.Fail(ex);
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<CacheItem> ListAsync(string prefix, int pageSize = 100, ReadOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? after = null;
        do
        {
            var page = await ListPageAsync(prefix, after, pageSize, values: true, options, cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                yield return ToItem(item);
            }

            after = page.Next;
        }
        while (after is not null);
    }

    /// <inheritdoc />
    public async Task<T?> GetJsonAsync<T>(string key, JsonTypeInfo<T> typeInfo, ReadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        var item = await GetAsync(key, options, cancellationToken).ConfigureAwait(false);
        return item is null ? default : JsonSerializer.Deserialize(item.Value.Span, typeInfo);
    }

    /// <inheritdoc />
    public Task<long> SetJsonAsync<T>(string key, T value, JsonTypeInfo<T> typeInfo, SetOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return SetAsync(key, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), options, cancellationToken);
    }

    internal static CacheItem ToItem(ListItem item) =>
        new(item.Key, item.Value is null ? ReadOnlyMemory<byte>.Empty : Convert.FromBase64String(item.Value), item.Version, item.ExpiresAt);

    private static void ValidateKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length == 0)
        {
            // "/cache/" would be a listing: refuse here what the server would refuse.
            throw new InvalidKeyException("Invalid key", "A key must not be empty.");
        }
    }

    /// <summary><c>/cache/</c> + the key, each segment escaped and <c>/</c> kept (the route is <c>/cache/{**key}</c>).</summary>
    internal static string KeyPath(string key) =>
        CachePaths.Keys + "/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    private static string ETag(long version) => "\"" + version.ToString(CultureInfo.InvariantCulture) + "\"";

    /// <summary>The revision a read was served at (<c>X-AspireCache-Revision</c>; null from a server that does not send it).</summary>
    internal static long? RevisionOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(CacheHeaders.Revision, out var values)
        && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var revision) ? revision : null;

    private static long? VersionOf(HttpResponseMessage response)
    {
        var tag = response.Headers.ETag?.Tag;
        return tag is not null && long.TryParse(tag.AsSpan().Trim('"'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var version) ? version : null;
    }

    private static DateTimeOffset? ExpiresAtOf(HttpResponseMessage response, DateTimeOffset sent)
    {
        if (response.Headers.TryGetValues(CacheHeaders.TtlMs, out var ttl)
            && long.TryParse(ttl.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
        {
            return sent.AddMilliseconds(ms);
        }

        return response.Content.Headers.Expires;
    }

    /// <summary>Throws the typed exception for a non-success answer.</summary>
    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string? key, CancellationToken token)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var problem = await Problem.ReadAsync(response, token).ConfigureAwait(false);
        throw ToException(response, problem, key);
    }

    internal static AspireCacheException ToException(HttpResponseMessage response, Problem problem, string? key)
    {
        var status = (int)response.StatusCode;
        if (problem.Type == ProblemTypes.PreconditionFailed || status == 412)
        {
            return new PreconditionFailedException(problem.Title, problem.Detail, problem.Key ?? key, VersionOf(response) ?? problem.CurrentVersion);
        }

        if (problem.Type == ProblemTypes.TooLarge || status == 413)
        {
            return new TooLargeException(problem.Title, problem.Detail);
        }

        if (problem.Type == ProblemTypes.InvalidKey)
        {
            return new InvalidKeyException(problem.Title, problem.Detail);
        }

        if (status == 503)
        {
            return new UnavailableException(status, problem.Type, problem.Title, problem.Detail, RetryAfterOf(response));
        }

        if (status == 429)
        {
            return new RateLimitedException(problem.Type, problem.Title, problem.Detail, RetryAfterOf(response));
        }

        return new AspireCacheException(status, problem.Type, problem.Title, problem.Detail);
    }

    internal static TimeSpan? RetryAfterOf(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow is var d && d > TimeSpan.Zero ? d : TimeSpan.Zero,
        _ => null,
    };

    private HttpRequestMessage Prepare(HttpRequestMessage request, Uri? leader, string? idempotencyKey)
    {
        if (leader is not null && request.RequestUri is { IsAbsoluteUri: false } relative)
        {
            request.RequestUri = new Uri(leader, relative);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation(CacheHeaders.IdempotencyKey, idempotencyKey);
        }

        if (_options.Credential is { Length: > 0 } credential)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        return request;
    }

    private TimeSpan Backoff(int attempt)
    {
        var ms = _options.InitialRetryDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 10));
        var capped = Math.Min(ms, _options.MaxRetryDelay.TotalMilliseconds);
        // Jitter (50–100 %): clients retrying after one election do not all come back at once.
        return TimeSpan.FromMilliseconds(capped * (0.5 + (Random.Shared.NextDouble() / 2)));
    }

    /// <summary>
    /// One logical call: its span, its deadline, its idempotency key (writes), and the retry loop.
    /// </summary>
    private sealed class Call : IDisposable
    {
        private readonly AspireCacheClient _client;
        private readonly string _operation;
        private readonly bool _isWrite;
        private readonly bool _readAtLeader;
        private readonly CancellationToken _caller;
        private readonly CancellationTokenSource _deadline;
        private readonly Activity? _activity;
        private readonly long _started = Stopwatch.GetTimestamp();
        private readonly TimeSpan _deadlineAfter;
        private readonly string? _idempotencyKey;
        private bool _maybeApplied;
        private int _attempts;

        public Call(AspireCacheClient client, string operation, bool isWrite, TimeSpan? deadline, CancellationToken caller, bool linearizableRead = false)
        {
            _client = client;
            _operation = operation;
            _isWrite = isWrite;
            _readAtLeader = linearizableRead && client._options.LinearizableReadsToLeader;
            _caller = caller;
            _deadline = CancellationTokenSource.CreateLinkedTokenSource(caller);
            _deadlineAfter = deadline ?? client._options.Deadline;
            _deadline.CancelAfter(_deadlineAfter);
            _idempotencyKey = isWrite ? Guid.NewGuid().ToString("N") : null;
            _activity = AspireCacheClientTelemetry.Source.StartActivity("aspirecache." + operation, ActivityKind.Client);
            _activity?.SetTag("aspirecache.operation", operation);
            if (_idempotencyKey is not null)
            {
                _activity?.SetTag("aspirecache.idempotency_key", _idempotencyKey);
            }
        }

        /// <summary>Cancelled by the caller or when the deadline passes.</summary>
        public CancellationToken Token => _deadline.Token;

        /// <summary>
        /// Sends until an answer that is not retried (success or a definite error), or the deadline.
        /// Retried: 421 for writes (at the named leader), 503, 502/504, connection failures, and 429
        /// (rate limited: nothing was done) no sooner than its <c>Retry-After</c> — when that is past
        /// the deadline, <see cref="RateLimitedException"/> at once instead of a wait that cannot succeed.
        /// </summary>
        /// <param name="build">A new request for each attempt.</param>
        /// <param name="firstAttemptOver">Called once the first attempt is over (the reads coalesced behind it go then).</param>
        /// <param name="coalesced">The write as a batch carries it (<see cref="BatchWrite"/>): its first attempt may travel in a batch.</param>
        public async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> build, Action? firstAttemptOver = null, WriteBatchWire.Write? coalesced = null)
        {
            try
            {
                return await SendAttemptsAsync(build, firstAttemptOver, coalesced).ConfigureAwait(false);
            }
            finally
            {
                ReleaseWriteSlot(); // what queued behind this write goes now (if its first attempt never went out)
            }
        }

        /// <summary>
        /// The write of this call as a batch carries it (<see cref="WriteCoalescer"/>): its own
        /// <c>Idempotency-Key</c>, conditions and query.
        /// </summary>
        public WriteBatchWire.Write BatchWrite(byte method, string key, string query, string? ifMatch, string? ifNoneMatch, ReadOnlyMemory<byte> body) =>
            new(method, key, query, ifMatch, ifNoneMatch, _idempotencyKey, Accept: null, body);

        /// <summary>This write is its group's request in flight: the writes queued behind it go when its first attempt is over.</summary>
        private WriteCoalescer.Group? _writeSlot;

        private void ReleaseWriteSlot()
        {
            if (_writeSlot is { } slot)
            {
                _writeSlot = null;
                _client._writeCoalescer!.Release(slot);
            }
        }

        private async Task<HttpResponseMessage> SendAttemptsAsync(Func<HttpRequestMessage> build, Action? firstAttemptOver, WriteBatchWire.Write? coalesced)
        {
            Uri? leader = null;
            Exception? lastError = null;
            HttpResponseMessage? last = null;
            Problem? lastProblem = null;
            TimeSpan? lastRetryAfter = null;
            while (true)
            {
                _attempts++;
                HttpResponseMessage? response = null;
                var target = leader ?? _client._direct?.Target(_isWrite, _readAtLeader);
                if (coalesced is not null && _client._writeCoalescer is { } writes)
                {
                    // First attempt: together with the writes for the same target that wait for this client's write in flight.
                    var entry = await writes.EnterAsync(target, coalesced, Token).ConfigureAwait(false);
                    coalesced = null;
                    _maybeApplied |= entry.MaybeApplied;
                    if (entry.Abandoned)
                    {
                        // Cancelled or past the deadline while queued: sent in a batch already (maybe applied) or never.
                        _caller.ThrowIfCancellationRequested();
                        throw DeadlineExceeded(lastProblem, lastRetryAfter, new OperationCanceledException(Token), last);
                    }

                    if (entry.Slot is { } slot)
                    {
                        _writeSlot = slot; // released when this first attempt is over (below), or when the call ends before it went out
                    }
                    else if (entry.Answer is { } answer)
                    {
                        Coalesced(entry.BatchSize);
                        response = answer; // the node's answer to this write: handled as its own request's below
                    }
                    else if (entry.MaybeApplied)
                    {
                        Count("batch"); // its batch failed on the way: on alone, with the same Idempotency-Key
                    }
                }

                if (response is null)
                {
                    var request = _client.Prepare(build(), target, _idempotencyKey);
                    // A write's body is tracked: an attempt whose body never started to go out changed nothing.
                    var tracked = _isWrite && request.Content is { } body ? new SendTrackingContent(body) : null;
                    if (tracked is not null)
                    {
                        request.Content = tracked;
                    }

                    try
                    {
                        try
                        {
                            response = await _client._http().SendAsync(request, HttpCompletionOption.ResponseContentRead, Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            // (the reads or writes coalesced behind this one go now, not after its retries)
                            ReleaseWriteSlot();
                            firstAttemptOver?.Invoke();
                            firstAttemptOver = null;
                        }
                    }
                    catch (OperationCanceledException) when (_caller.IsCancellationRequested)
                    {
                        if (_isWrite)
                        {
                            _maybeApplied = true;
                        }

                        throw;
                    }
                    catch (OperationCanceledException ex) when (Token.IsCancellationRequested)
                    {
                        // The deadline passed in flight: a write may have reached the leader, unless its body
                        // never started to go out (still connecting or waiting for a connection).
                        _maybeApplied |= _isWrite && (tracked is null || tracked.Started);
                        throw DeadlineExceeded(lastProblem, lastRetryAfter, lastError ?? ex, last);
                    }
                    catch (HttpRequestException ex)
                    {
                        // A write whose body never started to go out changed nothing. "Connection refused" alone
                        // does not prove that: SocketsHttpHandler sends a request that failed on a reused connection
                        // before any answer again on a new one, so a write received and applied by a node killed
                        // before it answered surfaces as the new connection's refusal (a DELETE through a leader
                        // killed mid-request was reported "not applied" although it was; the linearizability
                        // checker caught it). A body shows whether it went out; a bodiless write (DELETE) counts as
                        // maybe applied unless the name did not even resolve.
                        _maybeApplied |= _isWrite
                            && (tracked is not null
                                ? tracked.Started
                                : ex.HttpRequestError is not HttpRequestError.NameResolutionError);
                        lastError = ex;
                        leader = null;
                        request.Dispose();
                        if (target is not null)
                        {
                            _client._direct?.Failed(target);
                        }

                        Count("connection");
                        await DelayAsync(_client.Backoff(_attempts), lastProblem, lastRetryAfter, lastError, last).ConfigureAwait(false);
                        continue;
                    }

                    request.Dispose();
                }

                var status = (int)response.StatusCode;
                var retry = status switch
                {
                    421 => _isWrite,
                    429 or 502 or 503 or 504 => true,
                    _ => false,
                };
                if (!retry)
                {
                    return response;
                }

                var problem = await Problem.ReadAsync(response, Token).ConfigureAwait(false);
                lastProblem = problem;
                lastRetryAfter = RetryAfterOf(response);
                last?.Dispose();
                last = response;
                lastError = null;
                if (_isWrite && (problem.Type is ProblemTypes.LeadershipLost or ProblemTypes.Timeout or ProblemTypes.NoNode || status is 502 or 504 || (status == 503 && problem.Type is null)))
                {
                    // The write was proposed (or forwarded) and its commit was not confirmed: it may
                    // still be applied. The retry carries the same Idempotency-Key, so it is applied once.
                    _maybeApplied = true;
                }

                TimeSpan delay;
                if (status == 429)
                {
                    // Refused before anything was done (the write was not applied by this attempt).
                    // The server names the earliest useful retry: honour it, uncapped.
                    Count("429");
                    leader = null;
                    var backoff = _client.Backoff(_attempts);
                    delay = lastRetryAfter is { } after && after > backoff ? after : backoff;
                    if (delay >= _deadlineAfter - Stopwatch.GetElapsedTime(_started) && !(_isWrite && _maybeApplied))
                    {
                        last = null;
                        response.Dispose();
                        throw new RateLimitedException(problem.Type, problem.Title, problem.Detail, lastRetryAfter);
                    }
                }
                else if (status == 421)
                {
                    Count("421");
                    leader = _client._options.FollowLeaderUrl && response.Headers.TryGetValues(CacheHeaders.LeaderUrl, out var urls)
                        && Uri.TryCreate(urls.FirstOrDefault(), UriKind.Absolute, out var url)
                        ? url
                        : null;
                    delay = leader is null ? _client.Backoff(_attempts) : TimeSpan.Zero;
                }
                else
                {
                    Count(status.ToString(CultureInfo.InvariantCulture));
                    leader = null;
                    if (target is not null && status == 503)
                    {
                        // Direct mode: this node cannot serve now (no leader known, cut off): try another.
                        _client._direct?.Failed(target);
                    }

                    var backoff = _client.Backoff(_attempts);
                    delay = lastRetryAfter is { } after
                        ? TimeSpan.FromTicks(Math.Min(Math.Max(after.Ticks, backoff.Ticks), _client._options.MaxRetryDelay.Ticks))
                        : backoff;
                }

                await DelayAsync(delay, lastProblem, lastRetryAfter, lastError, last).ConfigureAwait(false);
            }
        }

        private async Task DelayAsync(TimeSpan delay, Problem? problem, TimeSpan? retryAfter, Exception? error, HttpResponseMessage? last)
        {
            try
            {
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, Token).ConfigureAwait(false);
                }
                else
                {
                    Token.ThrowIfCancellationRequested();
                }
            }
            catch (OperationCanceledException) when (!_caller.IsCancellationRequested)
            {
                throw DeadlineExceeded(problem, retryAfter, error, last);
            }
        }

        /// <summary>A linearizable read that direct mode sends to the leader (<see cref="AspireCacheClientOptions.LinearizableReadsToLeader"/>).</summary>
        public bool ReadAtLeader => _readAtLeader;

        /// <summary>Answered by a coalesced batch of <paramref name="size"/> reads.</summary>
        public void Coalesced(int size) => _activity?.SetTag("aspirecache.coalesced", size);

        private void Count(string reason) =>
            AspireCacheClientTelemetry.Retries.Add(1, new KeyValuePair<string, object?>("operation", _operation), new KeyValuePair<string, object?>("reason", reason));

        private AspireCacheException DeadlineExceeded(Problem? problem, TimeSpan? retryAfter, Exception? error, HttpResponseMessage? last)
        {
            var status = last is null ? 0 : (int)last.StatusCode;
            var what = $"No attempt succeeded within the deadline ({_attempts} attempts)"
                + (problem?.Detail is { } detail ? ". Last answer: " + detail : error is not null ? ". Last error: " + error.Message : ".");
            last?.Dispose();
            if (_isWrite && _maybeApplied)
            {
                return new OutcomeUnknownException(_idempotencyKey!, what + " The write may have been applied; retrying it with the same Idempotency-Key is safe.", error);
            }

            if (status == 429)
            {
                return new RateLimitedException(problem?.Type, problem?.Title, what, retryAfter, error);
            }

            return new UnavailableException(status, problem?.Type, problem?.Title ?? "The cache is unavailable", what, retryAfter, error);
        }

        /// <summary>Records the failure on the span and the error counter; returns what to throw.</summary>
        public Exception Fail(Exception ex)
        {
            // Cancellation by the caller stays an OperationCanceledException; the deadline while
            // reading an answer's body becomes the call's typed failure.
            if (ex is OperationCanceledException && !_caller.IsCancellationRequested && Token.IsCancellationRequested)
            {
                ex = DeadlineExceeded(null, null, ex, null);
            }
            else if (ex is HttpRequestException or IOException && !_caller.IsCancellationRequested)
            {
                ex = _isWrite
                    ? new OutcomeUnknownException(_idempotencyKey!, "The connection was lost while the answer was read.", ex)
                    : new UnavailableException(0, null, "The connection was lost", ex.Message, null, ex);
            }

            var type = ex is AspireCacheException a ? a.Type ?? ex.GetType().Name : ex.GetType().Name;
            if (ex is PreconditionFailedException)
            {
                // A failed condition is an answer, not a fault of the call: still counted, by type.
                _activity?.SetTag("aspirecache.precondition_failed", true);
            }
            else
            {
                _activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            }

            _activity?.SetTag("error.type", type);
            AspireCacheClientTelemetry.Errors.Add(1, new KeyValuePair<string, object?>("operation", _operation), new KeyValuePair<string, object?>("error.type", type));
            return ex;
        }

        public void Dispose()
        {
            _activity?.SetTag("aspirecache.attempts", _attempts);
            _activity?.Dispose();
            AspireCacheClientTelemetry.Duration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, new KeyValuePair<string, object?>("operation", _operation));
            _deadline.Dispose();
        }
    }
}

/// <summary>The fields of an RFC 9457 answer the client uses (all optional).</summary>
internal sealed record Problem(string? Type, string? Title, string? Detail, string? Key, long? CurrentVersion, long? OldestRevision, long? CurrentRevision)
{
    public static async Task<Problem> ReadAsync(HttpResponseMessage response, CancellationToken token)
    {
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return new Problem(null, null, null, null, null, null, null);
        }

        if (text.Length == 0 || text[0] != '{')
        {
            return new Problem(null, null, text.Length == 0 ? null : text[..Math.Min(text.Length, 500)], null, null, null, null);
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            return new Problem(
                Str(root, "type"),
                Str(root, "title"),
                Str(root, "detail"),
                Str(root, "key"),
                Num(root, "currentVersion"),
                Num(root, "oldestRevision"),
                Num(root, "currentRevision"));
        }
        catch (JsonException)
        {
            return new Problem(null, null, text[..Math.Min(text.Length, 500)], null, null, null, null);
        }

        static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        static long? Num(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : null;
    }
}
