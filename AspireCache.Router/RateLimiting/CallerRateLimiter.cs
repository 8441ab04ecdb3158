using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.RateLimiting;
using AspireCache.Router.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Router.RateLimiting;

/// <summary>Endpoint metadata: requests to this endpoint are rate limited per caller (the proxied routes and <c>/router/topology</c>).</summary>
internal sealed class RateLimitedEndpoint
{
    /// <summary>The proxied routes (their YARP route id names them in metrics).</summary>
    public static readonly RateLimitedEndpoint Proxy = new(null);

    /// <summary><c>/router/topology</c>.</summary>
    public static readonly RateLimitedEndpoint Topology = new("topology");

    private RateLimitedEndpoint(string? route) => Route = route;

    /// <summary>The route's name in metrics (null: the YARP route id).</summary>
    public string? Route { get; }
}

/// <summary>
/// The router's <see cref="RateLimiterOptions.GlobalLimiter"/>: a token bucket per caller
/// (<see cref="CallerKey"/>) for endpoints marked <see cref="RateLimitedEndpoint"/>; every other
/// request (<c>/health</c>, <c>/alive</c>) passes untouched.
/// <list type="bullet">
/// <item>The buckets refill lazily (tokens = elapsed × rate, capped at the burst) when a request
/// arrives: no timer per caller, and a request costs one dictionary lookup and a short lock.</item>
/// <item>The table is bounded (<see cref="RouterRateLimitOptions.MaxPartitions"/>, gauge
/// <c>aspirecache.router.rate_limit.partitions</c>): a caller arriving when it is full shares one
/// overflow bucket (counted: <c>aspirecache.router.rate_limit.overflowed</c>). A sweep each second
/// drops callers idle for <see cref="RouterRateLimitOptions.IdleTimeout"/> whose bucket is full again
/// (dropping a full bucket forgets nothing).</item>
/// <item>No queue: over the limit the answer is 429 at once, with the wait until the next token as
/// <see cref="MetadataName.RetryAfter"/>. Holding requests in the router would tie up connections
/// and memory; the client's own retry, after <c>Retry-After</c>, is the queue.</item>
/// </list>
/// </summary>
internal sealed class CallerRateLimiter : PartitionedRateLimiter<HttpContext>
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<CallerKey, TokenBucket> _buckets = new();
    private readonly TokenBucket _overflow;
    private readonly RouterTelemetry _telemetry;
    private readonly ILogger<CallerRateLimiter> _logger;
    private readonly double _perTick;
    private readonly double _burst;
    private readonly int _maxPartitions;
    private readonly long _idleTicks;
    private readonly Timer _sweep;
    private int _count;
    private int _full; // 1 while the table is full (logged once per episode)

    public CallerRateLimiter(IOptions<RouterRateLimitOptions> options, RouterTelemetry telemetry, ILogger<CallerRateLimiter> logger)
    {
        var settings = options.Value;
        Options = settings;
        _telemetry = telemetry;
        _logger = logger;
        _perTick = settings.PermitsPerSecond / Stopwatch.Frequency;
        _burst = settings.Burst;
        _maxPartitions = settings.MaxPartitions;
        _idleTicks = (long)(settings.IdleTimeout.TotalSeconds * Stopwatch.Frequency);
        _overflow = new TokenBucket(_burst, Stopwatch.GetTimestamp());
        telemetry.ObserveRateLimitPartitions(() => Volatile.Read(ref _count));
        _sweep = new Timer(static state => ((CallerRateLimiter)state!).Sweep(), this, SweepInterval, SweepInterval);
    }

    public RouterRateLimitOptions Options { get; }

    /// <summary>Callers currently tracked.</summary>
    public int Partitions => Volatile.Read(ref _count);

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => null;

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount)
    {
        var endpoint = resource.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<RateLimitedEndpoint>() is null)
        {
            return Lease.Acquired;
        }

        var now = Stopwatch.GetTimestamp();
        var bucket = BucketOf(CallerKey.Of(resource), now);
        return bucket.TryTake(now, Math.Max(permitCount, PermitsOf(endpoint, resource.Request)), _perTick, _burst, out var waitTicks)
            ? Lease.Acquired
            : Lease.Rejected(waitTicks);
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(resource, permitCount)); // no queue: a second look, then the answer

    /// <summary>Bytes of a read batch's body charged as one permit (a key on the wire is 2 bytes + its UTF-8).</summary>
    internal const int ReadBatchBytesPerPermit = 16;

    /// <summary>
    /// Permits one request costs: 1, but a client's read batch (route <c>read-batch</c>) costs one per
    /// <see cref="ReadBatchBytesPerPermit"/> bytes of its keys, as many as the node takes (1,000) when
    /// its length is not declared: a batch must not carry a thousand reads for the price of one. A
    /// client's write batch (route <c>write-batch</c>) costs one per write it declares
    /// (<c>X-AspireCache-Batch-Writes</c>, which the node checks), 1,000 without.
    /// </summary>
    internal static int PermitsOf(Endpoint endpoint, HttpRequest request)
    {
        // (a POST first: the reads and writes on the hot path pay one string compare, not a metadata lookup)
        if (!HttpMethods.IsPost(request.Method))
        {
            return 1;
        }

        switch (endpoint.Metadata.GetMetadata<Yarp.ReverseProxy.Model.RouteModel>()?.Config.RouteId)
        {
            case Routing.ProxyRoutes.ReadBatchRoute:
                return request.ContentLength is { } length
                    ? (int)Math.Clamp(length / ReadBatchBytesPerPermit, 1, 1000)
                    : 1000;
            case Routing.ProxyRoutes.WriteBatchRoute:
                // One per write, as the batch declares it (the node refuses a batch whose count is not true).
                return request.Headers[Contracts.CacheHeaders.BatchWrites] is { Count: 1 } declared
                    && Contracts.CacheHeaders.TryParseBatchWrites(declared[0], out var writes)
                    ? Math.Min(writes, 1000)
                    : 1000;
            default:
                return 1;
        }
    }

    private TokenBucket BucketOf(CallerKey key, long now)
    {
        if (_buckets.TryGetValue(key, out var bucket))
        {
            return bucket;
        }

        if (Interlocked.Increment(ref _count) > _maxPartitions)
        {
            Interlocked.Decrement(ref _count);
            if (Interlocked.Exchange(ref _full, 1) == 0)
            {
                RouterLog.RateLimitTableFull(_logger, _maxPartitions);
            }

            _telemetry.RateLimitOverflowed();
            return _overflow;
        }

        var created = new TokenBucket(_burst, now);
        var added = _buckets.GetOrAdd(key, created);
        if (!ReferenceEquals(added, created))
        {
            Interlocked.Decrement(ref _count); // another request of the caller added it first
        }

        return added;
    }

    /// <summary>Drops callers idle for the idle timeout whose bucket is full again.</summary>
    internal void Sweep()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (key, bucket) in _buckets)
        {
            if (now - bucket.LastUsed >= _idleTicks && bucket.IsFull(now, _perTick, _burst)
                && _buckets.TryRemove(new KeyValuePair<CallerKey, TokenBucket>(key, bucket)))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        if (Volatile.Read(ref _count) < _maxPartitions)
        {
            Volatile.Write(ref _full, 0);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sweep.Dispose();
        }

        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        await _sweep.DisposeAsync();
        await base.DisposeAsyncCore();
    }

    /// <summary>One caller's bucket: tokens refilled lazily from the time of the last update.</summary>
    private sealed class TokenBucket(double tokens, long now)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _updated = now;
        private long _lastUsed = now;

        public long LastUsed => Volatile.Read(ref _lastUsed);

        /// <summary>
        /// Takes <paramref name="permits"/> tokens, or tells how many ticks until they are there. A request that
        /// costs more than the whole bucket (a large batch under a small <c>Burst</c>) takes the whole bucket: it
        /// passes once the bucket is full, where it could otherwise never pass, however long its caller waited.
        /// </summary>
        public bool TryTake(long now, int permits, double perTick, double burst, out long waitTicks)
        {
            var cost = Math.Min(permits, burst);
            lock (_lock)
            {
                var tokens = Math.Min(burst, _tokens + (Math.Max(0, now - _updated) * perTick));
                _updated = Math.Max(_updated, now);
                _lastUsed = _updated;
                if (tokens >= cost)
                {
                    _tokens = tokens - cost;
                    waitTicks = 0;
                    return true;
                }

                _tokens = tokens;
                waitTicks = (long)Math.Ceiling((cost - tokens) / perTick);
                return false;
            }
        }

        public bool IsFull(long now, double perTick, double burst)
        {
            lock (_lock)
            {
                return _tokens + (Math.Max(0, now - _updated) * perTick) >= burst;
            }
        }
    }

    /// <summary>Leases without per-request allocation: one for every granted request, one per whole second of Retry-After for refusals.</summary>
    private sealed class Lease : RateLimitLease
    {
        public static readonly Lease Acquired = new(true, null);

        private static readonly Lease[] RejectedBySeconds = [.. Enumerable.Range(0, 61).Select(s => new Lease(false, TimeSpan.FromSeconds(Math.Max(1, s))))];

        private readonly TimeSpan? _retryAfter;

        private Lease(bool acquired, TimeSpan? retryAfter)
        {
            IsAcquired = acquired;
            _retryAfter = retryAfter;
        }

        public override bool IsAcquired { get; }

        public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        /// <summary>A refusal whose Retry-After is the wait rounded up to whole seconds (at least 1: the header's unit).</summary>
        public static Lease Rejected(long waitTicks)
        {
            var seconds = (long)Math.Ceiling((double)waitTicks / Stopwatch.Frequency);
            return seconds < RejectedBySeconds.Length
                ? RejectedBySeconds[Math.Max(0, (int)seconds)]
                : new Lease(false, TimeSpan.FromSeconds(seconds));
        }

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = retryAfter;
                return true;
            }

            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            // Shared instances: nothing to release (a token bucket lends nothing back).
        }
    }
}
