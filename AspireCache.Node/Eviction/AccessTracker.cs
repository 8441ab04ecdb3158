using System.Collections.Concurrent;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Eviction;

/// <summary>
/// When each key was last read, as seen by this node (local clock). The leader's copy decides
/// evictions; followers forward what they saw (<see cref="AccessReporter"/>), so recency includes
/// reads served anywhere. Approximate on purpose: it is a hint for choosing victims, never part of
/// the replicated state (a key never seen falls back to its last write).
/// <para><b>Bounds.</b> Only keys that exist in the state are recorded (a report naming unknown keys
/// records nothing), and the leader's table holds at most <see cref="MaxTrackedKeysKey"/> keys (new
/// keys beyond it are not recorded). Keys removed from the state leave the table: at once when
/// eviction removes them, otherwise within a few sweeps of <see cref="Maintain"/>. A follower keeps
/// no table: only the keys it has yet to report, at most <see cref="EvictionOptions.MaxReportedKeys"/>.
/// The table stores the state's own key strings, so it duplicates no key text.</para>
/// </summary>
public sealed class AccessTracker
{
    /// <summary>Configuration key of the table's bound (<see cref="EvictionOptions.MaxTrackedKeys"/>).</summary>
    public const string MaxTrackedKeysKey = EvictionOptions.SectionName + ":" + nameof(EvictionOptions.MaxTrackedKeys);


    /// <summary>
    /// Table entries checked against the state per <see cref="Maintain"/> call (every 250 ms by default:
    /// 4,000 a second, a full table of 10,000 keys in 2.5 s, of a million in ~4 min). It was 10,000: on an
    /// idle leader holding 10,000 keys the sweep then took a fifth of the process's CPU (~20 ms a second,
    /// `perf`, bench/README.md session 25), for a table whose stale entries only cost space it bounds anyway.
    /// </summary>
    public const int DefaultSweepBudget = 1_000;

    private readonly ConcurrentDictionary<string, long> _lastAccess = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, byte> _unreported = new(StringComparer.Ordinal);
    private readonly Func<string, string?> _existing;
    private readonly Func<bool> _decidesEvictions;
    private readonly int _maxTracked;
    private readonly int _maxUnreported;
    private readonly Lock _sweepLock = new();
    private IEnumerator<KeyValuePair<string, long>>? _sweep;
    private int _tracked;
    private int _unreportedCount;

    /// <summary>DI: keys are checked against the state machine; the leader keeps the table.</summary>
    public AccessTracker(CacheStateMachine stateMachine, ClusterView cluster, IOptions<EvictionOptions> options, NodeTelemetry telemetry)
        : this(
            key => stateMachine.State.Current.Entries.TryGetKey(key, out var actual) ? actual : null,
            () => cluster.IsLeader,
            options.Value.MaxTrackedKeys,
            options.Value.MaxReportedKeys)
    {
        telemetry.ObserveAccessTracker(() => Count, () => Volatile.Read(ref _unreportedCount));
    }

    /// <param name="existing">The state's own instance of a key, or <c>null</c> if the state does not hold it.</param>
    /// <param name="decidesEvictions">Whether this node leads (and so keeps the table) now.</param>
    /// <param name="maxTrackedKeys">Most keys in the table.</param>
    /// <param name="maxUnreportedKeys">Most keys a follower holds for its next report.</param>
    internal AccessTracker(Func<string, string?> existing, Func<bool> decidesEvictions, int maxTrackedKeys, int maxUnreportedKeys)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTrackedKeys, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxUnreportedKeys, 1);
        _existing = existing;
        _decidesEvictions = decidesEvictions;
        _maxTracked = maxTrackedKeys;
        _maxUnreported = maxUnreportedKeys;
    }

    /// <summary>Keys in the table (approximate under concurrent updates).</summary>
    public int Count => Math.Max(0, Volatile.Read(ref _tracked));

    /// <summary>The table's bound.</summary>
    public int MaxTrackedKeys => _maxTracked;

    /// <summary>A read served here at <paramref name="atUnixMs"/> (the caller already has the time).</summary>
    public void Touch(string key, long atUnixMs)
    {
        if (_existing(key) is not { } actual)
        {
            return;
        }

        if (_decidesEvictions())
        {
            Record(actual, atUnixMs);
        }
        else if (Volatile.Read(ref _unreportedCount) < _maxUnreported && _unreported.TryAdd(actual, 0))
        {
            Interlocked.Increment(ref _unreportedCount);
        }
    }

    /// <summary>
    /// Keys a follower reports it served (<c>POST /cluster/access</c>). Only the leader records
    /// them, only keys the state holds, and at most <see cref="EvictionOptions.MaxReportedKeys"/> per report.
    /// </summary>
    public void Touch(IEnumerable<string> keys, long atUnixMs)
    {
        if (!_decidesEvictions())
        {
            return;
        }

        foreach (var key in keys.Take(_maxUnreported))
        {
            if (key is not null && _existing(key) is { } actual)
            {
                Record(actual, atUnixMs);
            }
        }
    }

    /// <summary>Last access, or <paramref name="fallback"/> (e.g. the last write) if never seen.</summary>
    public long LastAccess(string key, long fallback) => _lastAccess.TryGetValue(key, out var at) ? Math.Max(at, fallback) : fallback;

    public void Forget(string key)
    {
        if (_lastAccess.TryRemove(key, out _))
        {
            Interlocked.Decrement(ref _tracked);
        }
    }

    /// <summary>
    /// Periodic upkeep (every access-report interval, on every node). A follower drops any table it
    /// kept while it led; the leader checks up to <paramref name="sweepBudget"/> entries (resuming
    /// where the previous call stopped) and drops keys the state no longer holds.
    /// </summary>
    public void Maintain(int sweepBudget = DefaultSweepBudget)
    {
        lock (_sweepLock)
        {
            if (!_decidesEvictions())
            {
                _sweep = null;
                foreach (var key in _lastAccess.Keys)
                {
                    Forget(key);
                }

                return;
            }

            for (var i = 0; i < sweepBudget; i++)
            {
                _sweep ??= _lastAccess.GetEnumerator();
                if (!_sweep.MoveNext())
                {
                    _sweep.Dispose();
                    _sweep = null;
                    return;
                }

                var key = _sweep.Current.Key;
                if (_existing(key) is null)
                {
                    Forget(key);
                }
            }
        }
    }

    /// <summary>Takes the keys accessed since the last call (at most <paramref name="max"/>).</summary>
    public List<string> TakeUnreported(int max)
    {
        var taken = Interlocked.Exchange(ref _unreported, new ConcurrentDictionary<string, byte>(StringComparer.Ordinal));
        Interlocked.Exchange(ref _unreportedCount, 0);
        var keys = new List<string>(Math.Min(taken.Count, max));
        foreach (var key in taken.Keys)
        {
            if (keys.Count == max)
            {
                break;
            }

            keys.Add(key);
        }

        return keys;
    }

    private void Record(string key, long atUnixMs)
    {
        if (_lastAccess.TryGetValue(key, out var previous))
        {
            if (atUnixMs > previous)
            {
                _lastAccess.TryUpdate(key, atUnixMs, previous); // lost to a concurrent update or removal: fine, a hint
            }

            return;
        }

        if (Volatile.Read(ref _tracked) >= _maxTracked)
        {
            return; // full: this key's recency falls back to its last write
        }

        if (_lastAccess.TryAdd(key, atUnixMs))
        {
            Interlocked.Increment(ref _tracked);
        }
    }
}
