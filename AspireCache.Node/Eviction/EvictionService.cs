using System.Net.Http.Json;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Eviction;

/// <summary>
/// LRU eviction under a memory budget, decided by the leader and replicated: when the state is
/// over budget, the leader samples keys (Redis-style approximate LRU over its
/// <see cref="AccessTracker"/>), picks the least recently used non-pinned ones and proposes one
/// <see cref="RemoveCommand"/> — every replica evicts the same keys in the same order.
/// </summary>
internal sealed class EvictionService(
    ClusterView cluster,
    CacheStateMachine stateMachine,
    WriteCoordinator writes,
    AccessTracker access,
    NodeTelemetry telemetry,
    TimeProvider clock,
    IOptions<EvictionOptions> options,
    ILogger<EvictionService> logger) : LeaderRemovalService(cluster, writes, telemetry, clock, logger)
{
    private readonly Random _random = new();

    protected override TimeSpan Interval => options.Value.Interval;

    protected override RemovalReason Reason => RemovalReason.Evicted;

    protected override List<KeyValuePair<string, long>> Choose()
    {
        var budget = options.Value.ResolveBudget();
        var size = stateMachine.State.SizeBytes;
        if (size <= budget)
        {
            return [];
        }

        // Empty when everything left is pinned: writes are then refused at the hard limit instead.
        var victims = ChooseVictims(stateMachine.State.Current, size - budget);
        if (victims.Count > 0)
        {
            NodeLog.Evicting(logger, size, budget, victims.Count);
        }

        return victims;
    }

    protected override void OnRemoved(List<KeyValuePair<string, long>> keys)
    {
        foreach (var (key, _) in keys)
        {
            access.Forget(key);
        }
    }

    /// <summary>Up to this many keys, victims are chosen by exact LRU; beyond, by sampling.</summary>
    private const int ExactLruLimit = 10_000;

    /// <summary>
    /// Picks least recently used, non-pinned keys worth at least <paramref name="bytesToFree"/>:
    /// exact LRU for small states, Redis-style sampling (best of <see cref="EvictionOptions.SampleSize"/>
    /// random keys per pick) for large ones.
    /// </summary>
    internal List<KeyValuePair<string, long>> ChooseVictims(StateView view, long bytesToFree)
    {
        if (view.Count <= ExactLruLimit)
        {
            var exact = new List<KeyValuePair<string, long>>();
            long total = 0;
            foreach (var (key, entry) in view.Entries
                .Where(e => !e.Value.Pinned)
                .OrderBy(e => access.LastAccess(e.Key, e.Value.UpdatedUnixMs))
                .ThenBy(e => e.Key, StringComparer.Ordinal))
            {
                if (total >= bytesToFree || exact.Count == MaxKeysPerEntry)
                {
                    break;
                }

                exact.Add(new(key, entry.Version));
                total += CacheState.SizeOf(key, entry.Value);
            }

            return exact;
        }

        var victims = new List<KeyValuePair<string, long>>();
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        long freed = 0;
        var sampleSize = options.Value.SampleSize;
        var misses = 0;
        while (freed < bytesToFree && victims.Count < MaxKeysPerEntry && chosen.Count < view.Count && misses < 8)
        {
            string? oldest = null;
            CacheEntry? oldestEntry = null;
            var oldestAccess = long.MaxValue;
            for (var i = 0; i < sampleSize; i++)
            {
                var (key, entry) = view.Entries.GetAt(_random.Next(view.Count));
                if (entry.Pinned || chosen.Contains(key))
                {
                    continue;
                }

                var at = access.LastAccess(key, entry.UpdatedUnixMs);
                if (at < oldestAccess)
                {
                    (oldest, oldestEntry, oldestAccess) = (key, entry, at);
                }
            }

            if (oldest is null)
            {
                misses++;
                continue;
            }

            chosen.Add(oldest);
            victims.Add(new(oldest, oldestEntry!.Version));
            freed += CacheState.SizeOf(oldest, oldestEntry.Value);
        }

        return victims;
    }
}

/// <summary>Followers tell the leader which keys they served, so LRU reflects reads everywhere.</summary>
internal sealed class AccessReporter(
    ClusterView cluster,
    AccessTracker access,
    IHttpClientFactory httpClientFactory,
    TimeProvider clock,
    IOptions<EvictionOptions> options) : BackgroundService
{
    public const string AccessPath = "/cluster/access";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval, clock);
        var client = httpClientFactory.CreateClient(ReadIndexService.HttpClientName);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            access.Maintain(); // drops keys the state no longer holds; a follower keeps no table
            var keys = access.TakeUnreported(options.Value.MaxReportedKeys);
            if (keys.Count == 0 || cluster.IsLeader || cluster.Leader.PeerUrl is not { } leader)
            {
                continue;
            }

            try
            {
                using var response = await client.PostAsJsonAsync(new Uri(leader, AccessPath), keys, stoppingToken);
            }
            catch (HttpRequestException)
            {
                // Best effort: recency is a hint.
            }
        }
    }
}
