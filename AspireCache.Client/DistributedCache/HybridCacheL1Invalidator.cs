using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireCache.Client.DistributedCache;

/// <summary>
/// Keeps this instance's HybridCache L1 coherent with the cluster: one watch stream on the
/// distributed cache's key prefix, and for every change of <c>{prefix}k</c> the L1 entry <c>k</c> is dropped.
/// </summary>
/// <remarks>
/// <para>
/// <b>The mechanism.</b> HybridCache has no L1-only removal (its <c>RemoveAsync</c> also deletes L2, a
/// replicated delete). But Microsoft's HybridCache (<c>DefaultHybridCache</c>,
/// Microsoft.Extensions.Caching.Hybrid) keeps its L1 in the application's <see cref="IMemoryCache"/>
/// singleton, each entry under exactly the HybridCache key (<c>SetL1</c> calls
/// <c>IMemoryCache.CreateEntry(key)</c>, lookups <c>TryGetValue(key)</c>). So
/// <see cref="IMemoryCache.Remove"/> of that key on that same singleton is the L1-only removal: the
/// next <c>GetOrCreateAsync</c> misses L1 and reads L2 (linearizably). The eviction callback
/// HybridCache registered releases the entry's buffers as for any eviction.
/// </para>
/// <para>
/// Races with L1 fills and this instance's own writes are closed by <see cref="HybridCacheL1Coherence"/>.
/// When the stream starts, and after a resync (the server's history no longer reached the resume
/// point), every HybridCache entry in L1 is dropped: changes before that point were not seen. While
/// the stream is down the client reopens it with <c>Last-Event-ID</c>, so no change is skipped; L1
/// may lag by the outage's length meanwhile.
/// </para>
/// <para>
/// Limits: an application entry in the same <see cref="IMemoryCache"/> under a key equal to a changed
/// HybridCache key is dropped too (HybridCache already shares that key space). Another
/// <see cref="HybridCache"/> implementation is not reached (a warning is logged).
/// </para>
/// </remarks>
internal sealed partial class HybridCacheL1Invalidator : BackgroundService
{
    private const string DefaultHybridCacheTypePrefix = "Microsoft.Extensions.Caching.Hybrid.Internal.DefaultHybridCache";

    private readonly IAspireCacheClient _client;
    private readonly string _prefix;
    private readonly HybridCacheL1Coherence _coherence;
    private readonly IMemoryCache _l1;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _dropped;

    public HybridCacheL1Invalidator(IAspireCacheClient client, string prefix, HybridCacheL1Coherence coherence, IMemoryCache l1, IServiceProvider services, ILogger<HybridCacheL1Invalidator> logger)
    {
        _client = client;
        _prefix = prefix;
        _coherence = coherence;
        _l1 = l1;
        _services = services;
        _logger = logger;
        coherence.Attach(Drop);
    }

    /// <summary>Completes when the stream is open and L1 was cleared of what came before it.</summary>
    public Task Started => _started.Task;

    /// <summary>L1 removals made (for tests).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The revision of the last change or progress seen.</summary>
    public long Revision { get; private set; }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_services.GetService(typeof(HybridCache)) is { } hybrid && !hybrid.GetType().FullName!.StartsWith(DefaultHybridCacheTypePrefix, StringComparison.Ordinal))
        {
            Log.OtherHybridCache(_logger, hybrid.GetType().FullName!);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);

        // The application should not serve L1 entries that no stream vouches for: wait a little for it.
        try
        {
            await _started.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.NotStartedYet(_logger, _prefix);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        long? resume = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var request = new WatchRequest { Prefixes = [_prefix], Values = false, AfterRevision = resume };
                await foreach (var change in _client.WatchAsync(request, stoppingToken).ConfigureAwait(false))
                {
                    switch (change.Type)
                    {
                        case WatchEventType.Progress:
                            if (!_started.Task.IsCompleted)
                            {
                                DropAll();
                                _started.TrySetResult();
                            }

                            break;
                        case WatchEventType.Resync:
                            DropAll();
                            break;
                        default:
                            _coherence.OnChange(change.Key, change.Revision, change.Type != WatchEventType.Put);
                            break;
                    }

                    Revision = change.Revision;
                    resume = change.Revision;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The client gave up reopening for a whole deadline: keep trying, from where we were.
                Log.StreamFailed(_logger, _prefix, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Drop(string storeKey, bool watchLanding)
    {
        if (!storeKey.StartsWith(_prefix, StringComparison.Ordinal))
        {
            return;
        }

        var key = storeKey[_prefix.Length..];
        _l1.Remove(key);
        Interlocked.Increment(ref _dropped);
        DistributedCacheTelemetry.L1Drops.Add(1);
        if (watchLanding)
        {
            _ = RemoveWhenLandedAsync(key);
        }
    }

    /// <summary>A read handed out an older version shortly before the change: remove its L1 fill when it lands.</summary>
    private async Task RemoveWhenLandedAsync(string key)
    {
        var deadline = DateTime.UtcNow + HybridCacheL1Coherence.HandoffGrace;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(HybridCacheL1Coherence.LandingPoll).ConfigureAwait(false);
            if (_l1.TryGetValue(key, out _))
            {
                _l1.Remove(key);
                Interlocked.Increment(ref _dropped);
                return;
            }
        }
    }

    /// <summary>Drops every HybridCache entry from L1 (the application's own entries stay).</summary>
    private void DropAll()
    {
        _coherence.Sweep();
        if (_l1 is not MemoryCache memory)
        {
            Log.CannotClear(_logger, _l1.GetType().FullName!);
            return;
        }

        var count = 0;
        foreach (var key in memory.Keys)
        {
            if (key is string name && memory.TryGetValue(name, out var value) && value?.GetType().FullName?.StartsWith(DefaultHybridCacheTypePrefix, StringComparison.Ordinal) == true)
            {
                memory.Remove(name);
                count++;
            }
        }

        Interlocked.Add(ref _dropped, count);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "HybridCache L1 invalidation: the registered HybridCache is {Type}, not Microsoft's DefaultHybridCache; removing changed keys from IMemoryCache may not reach its L1.")]
        public static partial void OtherHybridCache(ILogger logger, string type);

        [LoggerMessage(2, LogLevel.Warning, "HybridCache L1 invalidation: the watch on '{Prefix}' is not open yet; L1 entries are not invalidated until it is.")]
        public static partial void NotStartedYet(ILogger logger, string prefix);

        [LoggerMessage(3, LogLevel.Warning, "HybridCache L1 invalidation: the watch on '{Prefix}' failed; retrying from the last revision seen.")]
        public static partial void StreamFailed(ILogger logger, string prefix, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "HybridCache L1 invalidation: the IMemoryCache is {Type}, not MemoryCache: its HybridCache entries could not be cleared after a resync.")]
        public static partial void CannotClear(ILogger logger, string type);
    }
}
