using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AspireCache.Verification;

/// <summary>
/// Checks that a concurrent history of AspireCache operations is linearizable against a key-value map whose every
/// key starts absent (Wing–Gong–Lowe search, porcupine style; see <see cref="WglSearch"/>).
/// <para>
/// The history is split into independent partitions: connected components of keys, where a batch links all the keys
/// it touches. Each partition is checked alone against a map of its keys (linearizability is compositional), in
/// parallel, within one wall-clock budget. Per partition: a read of a value nobody wrote is reported at once;
/// unknown-outcome mutators that nothing could have observed are dropped (exactly equivalent); then the search runs.
/// A violating partition is shrunk to a small sub-history that is itself non-linearizable.
/// </para>
/// <para>
/// Performance: with versions recorded (the default), a few hundred operations per partition take milliseconds
/// and a 2,000-operation partition of 20 keys linked by batches well under a second. Without versions, large
/// multi-key partitions with many concurrent operations can exhaust the budget (the result is then Unknown).
/// </para>
/// </summary>
public static class LinearizabilityChecker
{
    /// <summary>Checks <paramref name="history"/> within <paramref name="budget"/>, checking versions and minimizing violations.</summary>
    public static CheckResult Check(IReadOnlyList<Operation> history, TimeSpan budget) =>
        Check(history, new CheckOptions { Budget = budget });

    public static CheckResult Check(IReadOnlyList<Operation> history, CheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(options);
        var start = Stopwatch.GetTimestamp();
        var deadline = AddSaturating(start, options.Budget);

        var ops = new List<Operation>(history.Count);
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i] ?? throw new ArgumentException($"History entry {i} is null.", nameof(history));
            Validate(op, i);
            if (op.Kind == OpKind.Read && !op.Known)
            {
                continue; // An unknown read tells nothing.
            }

            ops.Add(op.Known ? op : op with { Complete = long.MaxValue });
        }

        var partitions = Partition(ops);
        var results = new PartitionResult[partitions.Count];
        if (options.Parallel && partitions.Count > 1)
        {
            // Largest first for better load balance; results keep partition order.
            var byCost = Enumerable.Range(0, partitions.Count).OrderByDescending(i => partitions[i].Count).ToArray();
            System.Threading.Tasks.Parallel.For(
                0,
                byCost.Length,
                new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                i => results[byCost[i]] = CheckPartition(partitions[byCost[i]], options, deadline));
        }
        else
        {
            for (var i = 0; i < partitions.Count; i++)
            {
                results[i] = CheckPartition(partitions[i], options, deadline);
            }
        }

        var outcome = results.Any(r => r.Outcome == CheckOutcome.Violation) ? CheckOutcome.Violation
            : results.Any(r => r.Outcome == CheckOutcome.Unknown) ? CheckOutcome.Unknown
            : CheckOutcome.Ok;
        return new CheckResult(outcome, results, Stopwatch.GetElapsedTime(start), ops.Count);
    }

    /// <summary>Connected components of keys (batches link their keys), each with its operations in history order.</summary>
    internal static List<List<Operation>> Partition(IReadOnlyList<Operation> ops)
    {
        var keyIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var parent = new List<int>();

        int Find(int x)
        {
            while (parent[x] != x)
            {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }

            return x;
        }

        int Index(string key)
        {
            if (!keyIndex.TryGetValue(key, out var index))
            {
                index = parent.Count;
                keyIndex.Add(key, index);
                parent.Add(index);
            }

            return index;
        }

        foreach (var op in ops)
        {
            var first = -1;
            foreach (var key in op.Keys)
            {
                var k = Find(Index(key));
                if (first < 0)
                {
                    first = k;
                }
                else if (k != first)
                {
                    parent[k] = first;
                }
            }
        }

        var byRoot = new Dictionary<int, List<Operation>>();
        var result = new List<List<Operation>>();
        foreach (var op in ops)
        {
            var root = Find(keyIndex[op.Keys.First()]);
            if (!byRoot.TryGetValue(root, out var list))
            {
                list = [];
                byRoot.Add(root, list);
                result.Add(list);
            }

            list.Add(op);
        }

        return result;
    }

    private static PartitionResult CheckPartition(List<Operation> ops, CheckOptions options, long deadline)
    {
        var started = Stopwatch.GetTimestamp();
        var maxSteps = options.MaxStepsPerPartition ?? long.MaxValue;
        var keys = DistinctKeys(ops);
        var total = ops.Count;

        // Fast path: a read of a value that no operation ever wrote cannot be linearized anywhere.
        var phantom = FindPhantomRead(ops);
        if (phantom is not null)
        {
            IReadOnlyList<Operation> alone = [phantom];
            var model = new KeyValueModel(alone, options.CheckVersions);
            var search = WglSearch.Run(model, alone, long.MaxValue, long.MaxValue);
            var report = BuildReport(keys, alone, model, search, isMinimal: true, ops.Count, "a read returned a value that no operation of the history wrote");
            return new PartitionResult(keys, CheckOutcome.Violation, ops.Count, search.Steps, Stopwatch.GetElapsedTime(started), report);
        }

        // Unknown-outcome writes that nothing could have observed are equivalent to never having happened.
        ops = Observation.DropUnobservableUnknowns(ops, options.CheckVersions);
        var fullModel = new KeyValueModel(ops, options.CheckVersions);
        var outcome = WglSearch.Run(fullModel, ops, deadline, maxSteps);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (outcome.Outcome != CheckOutcome.Violation)
        {
            return new PartitionResult(keys, outcome.Outcome, total, outcome.Steps, elapsed, null);
        }

        IReadOnlyList<Operation> offending = ops;
        var offendingModel = fullModel;
        var offendingSearch = outcome;
        var minimal = false;
        if (options.Minimize)
        {
            var minimizeDeadline = Math.Min(deadline, AddSaturating(Stopwatch.GetTimestamp(), options.MinimizeBudget));
            (offending, offendingModel, offendingSearch, minimal) = Minimize(ops, fullModel, outcome, options, minimizeDeadline, maxSteps);
        }

        // For the report, search the offending history again without version-doom pruning: its longest prefix then
        // stops at the operation that really cannot be passed rather than where the doom was foreseen.
        if (offending.Count <= 500)
        {
            var explainDeadline = AddSaturating(Stopwatch.GetTimestamp(), TimeSpan.FromMilliseconds(500));
            var explained = WglSearch.Run(offendingModel, offending, explainDeadline, maxSteps, pruneByVersions: false);
            if (explained.Outcome == CheckOutcome.Violation)
            {
                offendingSearch = explained;
            }
        }

        var violation = BuildReport(keys, offending, offendingModel, offendingSearch, minimal, total, null);
        return new PartitionResult(keys, CheckOutcome.Violation, total, outcome.Steps, elapsed, violation);
    }

    /// <summary>
    /// Shrinks a violating partition. An operation can only go together with everything that may have observed it,
    /// transitively (its closure, see <see cref="Observation"/>): removing such a closure can never create a violation
    /// by itself, so every sub-history kept is a genuine witness. First whole keys' closures are tried, then each
    /// operation's, until no single removal keeps the violation. Stops at the deadline with what it has.
    /// </summary>
    private static (IReadOnlyList<Operation> Ops, KeyValueModel Model, SearchOutcome Search, bool Minimal) Minimize(
        List<Operation> ops, KeyValueModel model, SearchOutcome search, CheckOptions options, long deadline, long maxSteps)
    {
        var checkVersions = options.CheckVersions;
        var effects = ops.Select(o => Observation.Effects(o, checkVersions)).ToArray();
        var byKey = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < ops.Count; i++)
        {
            foreach (var key in ops[i].Keys)
            {
                if (!byKey.TryGetValue(key, out var list))
                {
                    byKey[key] = list = [];
                }

                list.Add(i);
            }
        }

        var alive = Enumerable.Repeat(true, ops.Count).ToArray();
        var aliveCount = ops.Count;
        var currentModel = model;
        var currentSearch = search;
        var decided = true;

        // The seeds plus every alive op that may observe a member's effect, transitively.
        HashSet<int> Closure(IEnumerable<int> seeds)
        {
            var closure = new HashSet<int>();
            var work = new Stack<int>();
            foreach (var seed in seeds)
            {
                if (alive[seed] && closure.Add(seed))
                {
                    work.Push(seed);
                }
            }

            while (work.Count > 0)
            {
                var m = work.Pop();
                foreach (var effect in effects[m])
                {
                    foreach (var o in byKey[effect.Key])
                    {
                        if (alive[o] && !closure.Contains(o) && Observation.MayObserve(ops[o], effect, checkVersions))
                        {
                            closure.Add(o);
                            work.Push(o);
                        }
                    }
                }
            }

            return closure;
        }

        // Removes the closure if what remains is still non-linearizable.
        bool TryRemove(HashSet<int> closure)
        {
            if (closure.Count == 0 || closure.Count >= aliveCount)
            {
                return false;
            }

            var candidateOps = new List<Operation>(aliveCount - closure.Count);
            for (var i = 0; i < ops.Count; i++)
            {
                if (alive[i] && !closure.Contains(i))
                {
                    candidateOps.Add(ops[i]);
                }
            }

            var candidateModel = new KeyValueModel(candidateOps, checkVersions);
            var candidateSearch = WglSearch.Run(candidateModel, candidateOps, deadline, maxSteps);
            if (candidateSearch.Outcome != CheckOutcome.Violation)
            {
                decided &= candidateSearch.Outcome == CheckOutcome.Ok;
                return false;
            }

            foreach (var i in closure)
            {
                alive[i] = false;
            }

            aliveCount -= closure.Count;
            currentModel = candidateModel;
            currentSearch = candidateSearch;
            return true;
        }

        List<Operation> Alive() => ops.Where((_, i) => alive[i]).ToList();

        foreach (var keyOps in byKey.Values.OrderByDescending(l => l.Count))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return (Alive(), currentModel, currentSearch, false);
            }

            TryRemove(Closure(keyOps));
        }

        bool removedAny;
        do
        {
            removedAny = false;
            for (var i = ops.Count - 1; i >= 0; i--)
            {
                if (!alive[i])
                {
                    continue;
                }

                if (Stopwatch.GetTimestamp() > deadline)
                {
                    return (Alive(), currentModel, currentSearch, false);
                }

                removedAny |= TryRemove(Closure([i]));
            }
        }
        while (removedAny);

        return (Alive(), currentModel, currentSearch, decided);
    }

    private static Operation? FindPhantomRead(List<Operation> ops)
    {
        var written = new HashSet<(string Key, string Value)>();
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Write:
                    written.Add((op.Key, op.Value!));
                    break;
                case OpKind.CompareAndSet when !(op.Known && op.Success == false):
                    written.Add((op.Key, op.Value!));
                    break;
                case OpKind.Batch:
                    foreach (var (key, value) in op.BatchSet ?? new Dictionary<string, string>())
                    {
                        written.Add((key, value));
                    }

                    break;
            }
        }

        return ops.FirstOrDefault(op => op.Kind == OpKind.Read && op.ReadValue is not null && !written.Contains((op.Key, op.ReadValue)));
    }

    private static ViolationReport BuildReport(
        IReadOnlyList<string> keys,
        IReadOnlyList<Operation> offending,
        KeyValueModel model,
        SearchOutcome search,
        bool isMinimal,
        int partitionCount,
        string? headline)
    {
        const int MaxPrefixLines = 30;
        var sortedOffending = offending.OrderBy(o => o.Invoke).ThenBy(o => o.EffectiveComplete).ToList();
        var origin = sortedOffending.Count > 0 ? sortedOffending[0].Invoke : 0;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"NOT LINEARIZABLE: partition {{{string.Join(", ", keys)}}} ({partitionCount} operations)");
        if (headline is not null)
        {
            sb.Append(": ").Append(headline);
        }

        sb.AppendLine();
        sb.Append(CultureInfo.InvariantCulture, $"Offending sub-history: {offending.Count} operation(s)");
        sb.Append(isMinimal ? ", 1-minimal (dropping any one that can be dropped soundly leaves a linearizable history)" : ", not fully minimized (budget)");
        sb.AppendLine(". Invoke order; times are Stopwatch ticks from the first invoke:");
        foreach (var op in sortedOffending)
        {
            sb.Append("    ").AppendLine(op.Describe(origin));
        }

        var state = model.InitialState();
        var prefix = search.LongestPrefix.Select(i => offending[i]).ToList();
        sb.Append(CultureInfo.InvariantCulture, $"Longest linearizable prefix found: {prefix.Count} operation(s)");
        sb.AppendLine(prefix.Count == 0 ? "." : ", in linearization order, with the state after each:");
        var skip = Math.Max(0, prefix.Count - MaxPrefixLines);
        if (skip > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    ... {skip} earlier operation(s) omitted ...").AppendLine();
        }

        for (var i = 0; i < search.LongestPrefix.Length; i++)
        {
            state = model.Step(state, search.LongestPrefix[i]) ?? state;
            if (i >= skip)
            {
                sb.Append(CultureInfo.InvariantCulture, $"    {i + 1,3}. {offending[search.LongestPrefix[i]].Describe(origin)}").AppendLine();
                sb.Append("         => ").AppendLine(model.DescribeState(state));
            }
        }

        Operation? blocked = null;
        var unlinearizable = new List<Operation>();
        if (search.BlockedOp >= 0)
        {
            blocked = offending[search.BlockedOp];
            sb.Append("Then ").Append(blocked.Describe(origin))
                .AppendLine(" had returned, yet no pending operation could take effect next:");
            foreach (var p in search.Pending)
            {
                var why = new StringBuilder();
                var after = model.Step(state, p, why);
                var reason = after is null
                    ? why.ToString()
                    : "allowed here, but every continuation after it fails";
                unlinearizable.Add(offending[p]);
                sb.Append("    - ").Append(offending[p].Describe(origin)).Append(": ").AppendLine(reason);
            }
        }

        return new ViolationReport(keys, sortedOffending, isMinimal, partitionCount, prefix, blocked, unlinearizable, sb.ToString().TrimEnd());
    }

    private static List<string> DistinctKeys(List<Operation> ops)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var keys = new List<string>();
        foreach (var op in ops)
        {
            foreach (var key in op.Keys)
            {
                if (seen.Add(key))
                {
                    keys.Add(key);
                }
            }
        }

        return keys;
    }

    private static void Validate(Operation op, int index)
    {
        void Fail(string message) => throw new ArgumentException($"History entry {index} ({op.Describe()}): {message}", "history");

        if (op.Kind != OpKind.Batch && string.IsNullOrEmpty(op.Key))
        {
            Fail("a single-key operation needs a key.");
        }

        switch (op.Kind)
        {
            case OpKind.Read:
                if (op.Known && op.ReadValue is null && op.Version is not null)
                {
                    Fail("a read that saw no value cannot report a version.");
                }

                break;
            case OpKind.Write:
                if (op.Value is null)
                {
                    Fail("a write needs a value.");
                }

                break;
            case OpKind.Delete:
                if (op.Known && op.Success is null)
                {
                    Fail("a known delete needs Success (found).");
                }

                break;
            case OpKind.CompareAndSet:
                if (op.Value is null)
                {
                    Fail("a compare-and-set needs a value.");
                }

                if (op.Known && op.Success is null)
                {
                    Fail("a known compare-and-set needs Success.");
                }

                break;
            case OpKind.Batch:
                var set = op.BatchSet ?? new Dictionary<string, string>();
                var delete = op.BatchDelete ?? [];
                if (set.Count + delete.Count == 0)
                {
                    Fail("a batch must touch at least one key.");
                }

                var deleted = new HashSet<string>(StringComparer.Ordinal);
                foreach (var key in delete)
                {
                    if (string.IsNullOrEmpty(key) || !deleted.Add(key) || set.ContainsKey(key))
                    {
                        Fail($"batch key '{key}' is empty, deleted twice, or both set and deleted.");
                    }
                }

                if (set.Keys.Any(string.IsNullOrEmpty) || set.Values.Any(v => v is null))
                {
                    Fail("a batch cannot set an empty key or a null value.");
                }

                break;
            default:
                Fail($"unknown kind {op.Kind}.");
                break;
        }

        if (op.Known && (op.Complete == long.MaxValue || op.Complete < op.Invoke))
        {
            Fail("a known operation must complete at or after its invoke.");
        }
    }

    private static long AddSaturating(long timestamp, TimeSpan span)
    {
        if (span <= TimeSpan.Zero)
        {
            return timestamp;
        }

        var ticks = span.TotalSeconds * Stopwatch.Frequency;
        return ticks >= long.MaxValue - timestamp ? long.MaxValue : timestamp + (long)ticks;
    }
}
