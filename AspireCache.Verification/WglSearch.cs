using System.Diagnostics;

namespace AspireCache.Verification;

/// <summary>What one search over one partition found.</summary>
internal sealed class SearchOutcome
{
    public CheckOutcome Outcome { get; init; }

    public long Steps { get; init; }

    /// <summary>For a violation: the longest linearization found (op indices, in order).</summary>
    public int[] LongestPrefix { get; init; } = [];

    /// <summary>For a violation: the op whose return could not be passed after <see cref="LongestPrefix"/>.</summary>
    public int BlockedOp { get; init; } = -1;

    /// <summary>For a violation: the ops invoked but not linearized at that point (<see cref="BlockedOp"/> included).</summary>
    public int[] Pending { get; init; } = [];
}

/// <summary>
/// Wing &amp; Gong's linearizability search with Lowe's memoization, in porcupine's form: call and return entries in one
/// doubly linked list sorted by time; linearizing an operation lifts its two entries out of the list, backtracking
/// puts them back. Operations with an unknown outcome return at +infinity: they may take effect anywhere after their
/// call, and once only such operations remain the search succeeds (they can all take effect at the end, unobserved).
/// <para>Prunings, each complete (they never hide a linearization):</para>
/// <list type="number">
/// <item>Memoization with subsumption: configurations are (linearized known ops, model state, linearized unknown ops).
/// One is skipped if a configuration with the same known ops and state and a subset of its unknown ops was seen:
/// that one can do everything this one can (the extra unknown ops could take effect at the very end).</item>
/// <item>Forced observers: when a pending known read (or failed CAS, or delete that found nothing) is consistent with
/// the current state and leaves it unchanged, it is linearized right away and no alternative is tried at that
/// point: any linearization can be rearranged to take it first.</item>
/// <item>Lazy unknowns: an unknown-outcome op is only tried when a pending known op that could depend on it (touches
/// one of its keys and is not a blind overwrite of all of them) is pending too: any linearization can be rearranged
/// so that each unknown op that matters comes right before (a chain of unknown ops and) such an op.</item>
/// <item>Version doom: a key's floor (highest version so far) never decreases, so once it passes a version that a
/// pending known op needs (a read's version, a write's new version), that op can never be linearized: give up on the
/// configuration at once instead of discovering it much later.</item>
/// </list>
/// Candidates are tried known ops first, by earliest return; then unknown ones.
/// </summary>
internal static class WglSearch
{
    private const int DeadlineCheckInterval = 128;

    /// <summary>Beyond this many memoized configurations the search gives up (Unknown) rather than exhaust memory.</summary>
    private const int MaxMemoEntries = 8_000_000;

    public static SearchOutcome Run(KeyValueModel model, IReadOnlyList<Operation> ops, long deadline, long maxSteps, bool pruneByVersions = true)
    {
        var n = ops.Count;
        var known = new bool[n];
        var observer = new bool[n];
        var remainingKnown = 0;
        var anyUnknown = false;
        for (var i = 0; i < n; i++)
        {
            known[i] = ops[i].Known;
            observer[i] = Observation.IsPureObserver(ops[i]);
            remainingKnown += known[i] ? 1 : 0;
            anyUnknown |= !known[i];
        }

        if (remainingKnown == 0)
        {
            return new SearchOutcome { Outcome = CheckOutcome.Ok };
        }

        // Keys as small integers, for the lazy-unknown filter.
        var keyIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var opKeys = new int[n][];
        var blind = new bool[n];
        for (var i = 0; i < n; i++)
        {
            opKeys[i] = ops[i].Keys.Select(k => keyIds.TryGetValue(k, out var id) ? id : keyIds[k] = keyIds.Count).ToArray();
            blind[i] = ops[i].Kind is OpKind.Write or OpKind.Batch;
        }

        var keyWithPendingObserver = new int[keyIds.Count];
        var keyWithPendingBlind = new int[keyIds.Count];
        var stamp = 0;

        // Entries: op i has call entry 2i+1 and return entry 2i+2; 0 is the list head.
        var order = new int[2 * n];
        var time = new long[(2 * n) + 1];
        for (var i = 0; i < n; i++)
        {
            order[2 * i] = (2 * i) + 1;
            order[(2 * i) + 1] = (2 * i) + 2;
            time[(2 * i) + 1] = ops[i].Invoke;
            time[(2 * i) + 2] = ops[i].EffectiveComplete;
        }

        // By time; at equal times calls first (touching intervals count as concurrent); then by op index.
        Array.Sort(order, (a, b) =>
        {
            var c = time[a].CompareTo(time[b]);
            if (c != 0)
            {
                return c;
            }

            c = IsReturn(a).CompareTo(IsReturn(b));
            return c != 0 ? c : a.CompareTo(b);
        });

        var next = new int[(2 * n) + 1];
        var prev = new int[(2 * n) + 1];
        var last = 0;
        foreach (var e in order)
        {
            next[last] = e;
            prev[e] = last;
            last = e;
        }

        next[last] = -1;

        var zobrist = new ulong[n];
        var seed = 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < n; i++)
        {
            zobrist[i] = SplitMix64(ref seed);
        }

        var knownBits = new ulong[(n + 63) / 64];
        var unknownBits = anyUnknown ? new ulong[(n + 63) / 64] : [];
        ulong knownHash = 0;
        var memo = new Dictionary<MemoKey, List<ulong[]>>(MemoKeyComparer.Instance);

        // Version demands of the known ops not linearized yet, per key: prune as soon as a floor passes one.
        var demands = new (int Key, long Version, bool Strict)[n][];
        var modelKeys = new int[n][];
        var strictDemands = new SortedSet<(long Version, int Op)>[model.Keys.Count];
        var looseDemands = new SortedSet<(long Version, int Op)>[model.Keys.Count];
        for (var k = 0; k < model.Keys.Count; k++)
        {
            strictDemands[k] = [];
            looseDemands[k] = [];
        }

        for (var i = 0; i < n; i++)
        {
            demands[i] = model.VersionDemands(i).ToArray();
            modelKeys[i] = model.KeysOf(i);
            AddDemands(i);
        }

        void AddDemands(int op)
        {
            foreach (var (k, v, strict) in demands[op])
            {
                (strict ? strictDemands : looseDemands)[k].Add((v, op));
            }
        }

        void RemoveDemands(int op)
        {
            foreach (var (k, v, strict) in demands[op])
            {
                (strict ? strictDemands : looseDemands)[k].Remove((v, op));
            }
        }

        // Whether some op not linearized yet can no longer be, given the floors of the keys op just touched.
        bool Doomed(int op, long[] s)
        {
            foreach (var k in modelKeys[op])
            {
                var floor = KeyValueModel.Floor(s, k);
                if ((strictDemands[k].Count > 0 && strictDemands[k].Min.Version <= floor)
                    || (looseDemands[k].Count > 0 && looseDemands[k].Min.Version < floor))
                {
                    return true;
                }
            }

            return false;
        }

        // The search stack: per depth, the call entry linearized there, the state before it, whether it was forced,
        // and where the candidate list of the configuration below it is (and how far it was tried).
        var stackEntries = new int[n];
        var stackStates = new long[n][];
        var stackForced = new bool[n];
        var levelStart = new int[n + 1];
        var levelCount = new int[n + 1];
        var levelPosition = new int[n + 1];
        var levelBlocked = new int[n + 1];
        var candidates = new List<int>(64);
        var depth = 0;

        var bestDepth = -1;
        int[] bestPrefix = [];
        var bestBlocked = -1;
        int[] bestPending = [];

        var state = model.InitialState();
        long steps = 0;
        var fresh = true; // at a configuration not examined yet
        var returnTime = time;

        // Linearizes the op of call entry c with next state s, unless an equivalent or better configuration was seen.
        bool TryEnter(int c, long[] s, bool forced)
        {
            var op = OpOf(c);
            RemoveDemands(op);
            if (pruneByVersions && !ReferenceEquals(s, state) && Doomed(op, s))
            {
                AddDemands(op);
                return false;
            }

            var bits = known[op] ? knownBits : unknownBits;
            bits[op >> 6] |= 1UL << (op & 63);
            var hash = known[op] ? knownHash ^ zobrist[op] : knownHash;
            var probe = new MemoKey(knownBits, s, HashCode.Combine(hash, KeyValueModel.Hash(s)));
            if (memo.TryGetValue(probe, out var seen))
            {
                foreach (var unknownSet in seen)
                {
                    if (IsSubset(unknownSet, unknownBits))
                    {
                        bits[op >> 6] &= ~(1UL << (op & 63));
                        AddDemands(op);
                        return false;
                    }
                }

                seen.Add(anyUnknown ? (ulong[])unknownBits.Clone() : []);
            }
            else
            {
                memo.Add(probe with { Bits = (ulong[])knownBits.Clone() }, [anyUnknown ? (ulong[])unknownBits.Clone() : []]);
            }

            knownHash = hash;
            stackEntries[depth] = c;
            stackStates[depth] = state;
            stackForced[depth] = forced;
            depth++;
            state = s;
            Lift(next, prev, c);
            if (known[op])
            {
                remainingKnown--;
            }

            return true;
        }

        // Lists the current configuration's candidates at this depth's level: the forced observer alone if there is
        // one (returns true), else known ops by return time, then the unknown ops that may matter.
        bool Collect()
        {
            stamp++;
            var start = candidates.Count;
            levelStart[depth] = start;
            levelPosition[depth] = 0;
            var e = next[0];
            for (; e >= 0 && !IsReturn(e); e = next[e])
            {
                var op = OpOf(e);
                if (!known[op])
                {
                    continue;
                }

                if (observer[op] && ReferenceEquals(model.Step(state, op), state))
                {
                    candidates.RemoveRange(start, candidates.Count - start);
                    candidates.Add(e);
                    levelCount[depth] = 1;
                    levelBlocked[depth] = -1;
                    return true;
                }

                var marks = blind[op] ? keyWithPendingBlind : keyWithPendingObserver;
                foreach (var k in opKeys[op])
                {
                    marks[k] = stamp;
                }

                candidates.Add(e);
            }

            levelBlocked[depth] = e >= 0 ? OpOf(e) : -1;
            var knownCount = candidates.Count - start;
            if (knownCount > 1)
            {
                candidates.Sort(start, knownCount, Comparer<int>.Create((x, y) => returnTime[x + 1].CompareTo(returnTime[y + 1])));
            }

            if (anyUnknown)
            {
                for (var u = next[0]; u >= 0 && !IsReturn(u); u = next[u])
                {
                    if (!known[OpOf(u)] && MayMatter(OpOf(u)))
                    {
                        candidates.Add(u);
                    }
                }
            }

            levelCount[depth] = candidates.Count - start;
            return false;
        }

        // An unknown op is worth trying only if a pending known op may depend on it (see the class summary).
        bool MayMatter(int op)
        {
            var keys = opKeys[op];
            foreach (var k in keys)
            {
                if (keyWithPendingObserver[k] == stamp || (keys.Length > 1 && keyWithPendingBlind[k] == stamp))
                {
                    return true;
                }
            }

            return false;
        }

        while (true)
        {
            steps++;
            if (steps % DeadlineCheckInterval == 1 && (Stopwatch.GetTimestamp() > deadline || steps > maxSteps || memo.Count > MaxMemoEntries))
            {
                return new SearchOutcome { Outcome = CheckOutcome.Unknown, Steps = steps };
            }

            if (fresh)
            {
                fresh = false;
                if (Collect())
                {
                    // A forced observer: take it, and nothing else is worth trying here.
                    var forced = candidates[levelStart[depth]];
                    if (TryEnter(forced, state, forced: true))
                    {
                        if (remainingKnown == 0)
                        {
                            return new SearchOutcome { Outcome = CheckOutcome.Ok, Steps = steps };
                        }

                        fresh = true;
                        continue;
                    }

                    levelPosition[depth] = 1; // reduces to a configuration already explored
                }
            }

            // Try the next candidate of the current configuration.
            if (levelPosition[depth] < levelCount[depth])
            {
                var c = candidates[levelStart[depth] + levelPosition[depth]];
                levelPosition[depth]++;
                var newState = model.Step(state, OpOf(c));
                if (newState is not null && TryEnter(c, newState, forced: false))
                {
                    if (remainingKnown == 0)
                    {
                        return new SearchOutcome { Outcome = CheckOutcome.Ok, Steps = steps };
                    }

                    fresh = true;
                }

                continue;
            }

            // Dead end: the first pending return cannot be passed from here.
            if (depth > bestDepth && levelBlocked[depth] >= 0)
            {
                bestDepth = depth;
                bestPrefix = new int[depth];
                for (var i = 0; i < depth; i++)
                {
                    bestPrefix[i] = OpOf(stackEntries[i]);
                }

                bestBlocked = levelBlocked[depth];
                bestPending = candidates.Skip(levelStart[depth]).Take(levelCount[depth]).Select(OpOf).ToArray();
            }

            // Backtrack: undo the last choice; undo forced steps entirely (nothing else was possible there).
            while (true)
            {
                candidates.RemoveRange(levelStart[depth], candidates.Count - levelStart[depth]);
                if (depth == 0)
                {
                    return new SearchOutcome
                    {
                        Outcome = CheckOutcome.Violation,
                        Steps = steps,
                        LongestPrefix = bestPrefix,
                        BlockedOp = bestBlocked,
                        Pending = bestPending,
                    };
                }

                depth--;
                var top = stackEntries[depth];
                state = stackStates[depth];
                stackStates[depth] = null!;
                var undone = OpOf(top);
                if (known[undone])
                {
                    knownBits[undone >> 6] &= ~(1UL << (undone & 63));
                    knownHash ^= zobrist[undone];
                    remainingKnown++;
                }
                else
                {
                    unknownBits[undone >> 6] &= ~(1UL << (undone & 63));
                }

                Unlift(next, prev, top);
                AddDemands(undone);
                if (!stackForced[depth])
                {
                    break;
                }
            }
        }
    }

    private static bool IsSubset(ulong[] subset, ulong[] superset)
    {
        for (var i = 0; i < subset.Length; i++)
        {
            if ((subset[i] & ~superset[i]) != 0)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsReturn(int entry) => (entry & 1) == 0;

    private static int OpOf(int entry) => (entry - 1) >> 1;

    /// <summary>Removes call entry <paramref name="call"/> and its return entry (call + 1) from the list.</summary>
    private static void Lift(int[] next, int[] prev, int call)
    {
        var ret = call + 1;
        next[prev[call]] = next[call];
        if (next[call] >= 0)
        {
            prev[next[call]] = prev[call];
        }

        next[prev[ret]] = next[ret];
        if (next[ret] >= 0)
        {
            prev[next[ret]] = prev[ret];
        }
    }

    /// <summary>Undoes <see cref="Lift"/> (entries keep their own prev/next, so they go back where they were).</summary>
    private static void Unlift(int[] next, int[] prev, int call)
    {
        var ret = call + 1;
        next[prev[ret]] = ret;
        if (next[ret] >= 0)
        {
            prev[next[ret]] = ret;
        }

        next[prev[call]] = call;
        if (next[call] >= 0)
        {
            prev[next[call]] = call;
        }
    }

    private static ulong SplitMix64(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private readonly record struct MemoKey(ulong[] Bits, long[] State, int Hash);

    private sealed class MemoKeyComparer : IEqualityComparer<MemoKey>
    {
        public static readonly MemoKeyComparer Instance = new();

        public bool Equals(MemoKey x, MemoKey y) =>
            x.Hash == y.Hash
            && x.Bits.AsSpan().SequenceEqual(y.Bits)
            && (ReferenceEquals(x.State, y.State) || x.State.AsSpan().SequenceEqual(y.State));

        public int GetHashCode(MemoKey obj) => obj.Hash;
    }
}
