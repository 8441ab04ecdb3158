using System.Diagnostics;
using Xunit.Abstractions;
using static AspireCache.Verification.Operation;

namespace AspireCache.Verification.Tests;

public sealed class LinearizabilityCheckerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(10);

    private static Dictionary<string, string> Set(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    private CheckResult CheckAndLog(IReadOnlyList<Operation> history, CheckOptions? options = null)
    {
        var result = LinearizabilityChecker.Check(history, options ?? new CheckOptions { Budget = Budget });
        output.WriteLine(result.Describe());
        return result;
    }

    private CheckResult AssertLinearizable(IReadOnlyList<Operation> history, CheckOptions? options = null)
    {
        var result = CheckAndLog(history, options);
        Assert.True(result.Outcome == CheckOutcome.Ok, result.Describe());
        return result;
    }

    private ViolationReport AssertViolation(IReadOnlyList<Operation> history, CheckOptions? options = null)
    {
        var result = CheckAndLog(history, options);
        Assert.True(result.Outcome == CheckOutcome.Violation, result.Describe());
        return Assert.IsType<ViolationReport>(result.Violation);
    }

    // ---------------------------------------------------------------- linearizable histories

    [Fact]
    public void Sequential_history_of_every_kind_is_linearizable()
    {
        Operation[] history =
        [
            Read(1, "a", null, 0, 1),
            Write(1, "a", "a1", 2, 3, version: 1),
            Read(2, "a", "a1", 4, 5, version: 1),
            CompareAndSet(3, "a", 1, "a2", success: true, 6, 7, newVersion: 2),
            CompareAndSet(1, "a", 1, "a3", success: false, 8, 9),
            CompareAndSet(2, "b", null, "b1", success: true, 10, 11, newVersion: 3),
            Batch(3, Set(("a", "a4"), ("c", "c1")), ["b"], 12, 13, version: 4),
            Read(1, "b", null, 14, 15),
            Read(2, "c", "c1", 16, 17, version: 4),
            Read(3, "a", "a4", 18, 19, version: 4),
            Delete(1, "a", found: true, 20, 21),
            Delete(2, "a", found: false, 22, 23),
            Read(3, "a", null, 24, 25),
            Write(1, "a", "a5", 26, 27, version: 6),
            Read(2, "a", "a5", 28, 29, version: 6),
        ];

        var result = AssertLinearizable(history);
        Assert.Single(result.Partitions); // the batch links a, b and c
    }

    [Fact]
    public void Empty_history_is_linearizable()
    {
        var result = AssertLinearizable([]);
        Assert.Empty(result.Partitions);
    }

    [Theory]
    [InlineData("x", "y")]
    [InlineData("y", "x")]
    [InlineData("x", "x")]
    [InlineData("y", "y")]
    public void Concurrent_writes_with_reads_seeing_either_value_pass(string first, string second)
    {
        // Two overlapping writes, two sequential reads while both are in flight: without versions every pair of
        // observations has an explanation (e.g. "y" then "x": y took effect, then x).
        Operation[] history =
        [
            Write(1, "k", "x", 0, 100),
            Write(2, "k", "y", 5, 100),
            Read(3, "k", first, 10, 20),
            Read(4, "k", second, 30, 40),
        ];

        AssertLinearizable(history);
    }

    [Fact]
    public void Concurrent_writes_with_versions_pass_when_the_reads_agree_with_the_version_order()
    {
        Operation[] history =
        [
            Write(1, "k", "x", 0, 100, version: 7),
            Write(2, "k", "y", 5, 100, version: 9),
            Read(3, "k", "x", 10, 20, version: 7),
            Read(4, "k", "y", 30, 40, version: 9),
            Read(5, "k", "y", 101, 102, version: 9),
        ];

        AssertLinearizable(history);
    }

    [Fact]
    public void Reads_going_back_against_the_version_order_are_a_violation_unless_versions_are_ignored()
    {
        // y@9 then x@7: x would have to be written after y, with a smaller version.
        Operation[] history =
        [
            Write(1, "k", "x", 0, 100, version: 7),
            Write(2, "k", "y", 5, 100, version: 9),
            Read(3, "k", "y", 10, 20, version: 9),
            Read(4, "k", "x", 30, 40, version: 7),
        ];

        AssertViolation(history);
        AssertLinearizable(history, new CheckOptions { Budget = Budget, CheckVersions = false });
    }

    [Fact]
    public void Independent_keys_are_checked_as_separate_partitions()
    {
        Operation[] history =
        [
            Write(1, "a", "1", 0, 10, version: 1),
            Write(2, "b", "1", 0, 10, version: 2),
            Read(3, "a", "1", 20, 30, version: 1),
            Read(4, "b", "1", 20, 30, version: 2),
            Batch(5, Set(("c", "1")), ["d"], 40, 50, version: 3),
        ];

        var result = AssertLinearizable(history);
        Assert.Equal(3, result.Partitions.Count);
        Assert.Contains(result.Partitions, p => p.Keys.OrderBy(k => k).SequenceEqual(["c", "d"]));
    }

    // ---------------------------------------------------------------- violations

    [Fact]
    public void Stale_read_after_an_acknowledged_write_is_a_violation()
    {
        Operation[] history =
        [
            Write(1, "k", "new", 0, 10, version: 1),
            Read(2, "k", null, 20, 30), // began after the write was acknowledged, yet sees the key absent
        ];

        var report = AssertViolation(history);
        Assert.Equal(["k"], report.Keys);
        Assert.True(report.IsMinimal);
        Assert.Equal(2, report.OffendingHistory.Count);
        Assert.Contains("holds \"new\"@1", report.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Lost_write_is_a_violation(bool withVersions)
    {
        Operation[] history =
        [
            Write(1, "k", "old", 0, 10, version: withVersions ? 1 : null),
            Read(3, "k", "old", 12, 14, version: withVersions ? 1 : null),
            Write(2, "k", "new", 20, 30, version: withVersions ? 2 : null),
            Read(3, "k", "old", 40, 50, version: withVersions ? 1 : null), // the acknowledged "new" is lost
            Read(4, "k", "old", 60, 70, version: withVersions ? 1 : null),
        ];

        var report = AssertViolation(history);
        Assert.True(report.IsMinimal);
        Assert.Equal(3, report.OffendingHistory.Count); // write old, write new, one stale read
        Assert.Contains(report.OffendingHistory, o => o.Kind == OpKind.Write && o.Value == "new");
        Assert.NotNull(report.BlockedOperation);
        Assert.Equal(OpKind.Read, report.BlockedOperation.Kind);
    }

    [Fact]
    public void Read_of_a_value_never_written_is_a_violation()
    {
        Operation[] history =
        [
            Write(1, "k", "a", 0, 10),
            Read(2, "k", "ghost", 5, 15),
            Read(3, "k", "a", 20, 30),
        ];

        var report = AssertViolation(history);
        var only = Assert.Single(report.OffendingHistory);
        Assert.Equal("ghost", only.ReadValue);
        Assert.Contains("no operation of the history wrote", report.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Non_monotonic_reads_across_clients_are_a_violation(bool withVersions)
    {
        Operation[] history =
        [
            Write(1, "k", "a", 0, 10, version: withVersions ? 1 : null),
            Write(2, "k", "b", 20, 100, version: withVersions ? 2 : null), // slow write, still in flight
            Read(3, "k", "b", 30, 40, version: withVersions ? 2 : null), // sees the new value...
            Read(4, "k", "a", 50, 60, version: withVersions ? 1 : null), // ...then another client, later, the old one
        ];

        var report = AssertViolation(history);
        Assert.True(report.IsMinimal);
        Assert.Equal(4, report.OffendingHistory.Count);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Compare_and_set_with_two_winners_is_a_violation(bool withVersions)
    {
        Operation[] history =
        [
            Write(1, "k", "start", 0, 10, version: 1),
            CompareAndSet(2, "k", 1, "two", success: true, 20, 40, newVersion: withVersions ? 2 : null),
            CompareAndSet(3, "k", 1, "three", success: true, 25, 45, newVersion: withVersions ? 3 : null),
        ];

        var report = AssertViolation(history);
        Assert.True(report.IsMinimal);
        Assert.Equal(3, report.OffendingHistory.Count);
    }

    [Fact]
    public void Compare_and_set_with_one_winner_and_one_loser_passes()
    {
        Operation[] history =
        [
            Write(1, "k", "start", 0, 10, version: 1),
            CompareAndSet(2, "k", 1, "two", success: true, 20, 40, newVersion: 2),
            CompareAndSet(3, "k", 1, "three", success: false, 25, 45),
            Read(4, "k", "two", 50, 60, version: 2),
            CompareAndSet(4, "k", null, "create", success: false, 70, 80),
        ];

        AssertLinearizable(history);
    }

    [Fact]
    public void Compare_and_set_that_failed_although_the_version_matched_is_a_violation()
    {
        Operation[] history =
        [
            Write(1, "k", "start", 0, 10, version: 1),
            CompareAndSet(2, "k", 1, "two", success: false, 20, 30),
            Read(3, "k", "start", 40, 50, version: 1),
        ];

        AssertViolation(history);
    }

    [Fact]
    public void Batch_seen_partially_is_a_violation()
    {
        Operation[] history =
        [
            Batch(1, Set(("x", "1"), ("y", "1")), null, 0, 100, version: 5),
            Read(2, "x", "1", 10, 20, version: 5), // the batch has taken effect...
            Read(3, "y", null, 30, 40), // ...but later another key of it has not
        ];

        var report = AssertViolation(history);
        Assert.Equal(["x", "y"], report.Keys.OrderBy(k => k));
        Assert.Equal(3, report.OffendingHistory.Count);
    }

    [Fact]
    public void Batch_seen_whole_or_not_at_all_passes()
    {
        Operation[] history =
        [
            Batch(1, Set(("x", "1"), ("y", "1")), null, 0, 100, version: 5),
            Read(3, "y", null, 10, 20), // not yet...
            Read(2, "x", "1", 30, 40, version: 5), // ...then whole
            Read(3, "y", "1", 50, 60, version: 5),
        ];

        AssertLinearizable(history);
    }

    [Fact]
    public void Batch_versions_must_be_shared_by_its_keys()
    {
        Operation[] history =
        [
            BatchUnknown(1, Set(("x", "1"), ("y", "1")), null, 0),
            Read(2, "x", "1", 10, 20, version: 5),
            Read(3, "y", "1", 30, 40, version: 6), // one batch, two versions
        ];

        AssertViolation(history);
    }

    [Fact]
    public void Write_versions_must_increase()
    {
        Operation[] history =
        [
            Write(1, "k", "a", 0, 10, version: 5),
            Write(2, "k", "b", 20, 30, version: 3),
        ];

        AssertViolation(history);
        AssertLinearizable(history, new CheckOptions { Budget = Budget, CheckVersions = false });
    }

    [Fact]
    public void Read_must_report_the_version_of_the_write_it_saw()
    {
        Operation[] history =
        [
            Write(1, "k", "a", 0, 10, version: 5),
            Read(2, "k", "a", 20, 30, version: 4),
        ];

        AssertViolation(history);
    }

    // ---------------------------------------------------------------- unknown outcomes

    [Theory]
    [InlineData("before")]
    [InlineData("maybe")]
    public void Unknown_write_may_or_may_not_have_taken_effect(string seen)
    {
        Operation[] history =
        [
            Write(1, "k", "before", 0, 10, version: 1),
            WriteUnknown(2, "k", "maybe", 20),
            Read(3, "k", seen, 30, 40),
            Read(3, "k", seen, 1_000, 1_010),
        ];

        AssertLinearizable(history);
    }

    [Fact]
    public void Unknown_write_that_was_seen_cannot_disappear()
    {
        Operation[] history =
        [
            Write(1, "k", "before", 0, 10, version: 1),
            WriteUnknown(2, "k", "maybe", 20),
            Read(3, "k", "maybe", 30, 40, version: 8),
            Read(4, "k", "before", 50, 60, version: 1),
        ];

        AssertViolation(history);
    }

    [Fact]
    public void Unknown_write_cannot_take_effect_before_it_was_invoked()
    {
        Operation[] history =
        [
            Read(1, "k", "late", 0, 10),
            WriteUnknown(2, "k", "late", 20),
        ];

        AssertViolation(history);
    }

    [Fact]
    public void Unknown_delete_cas_and_batch_may_or_may_not_have_taken_effect()
    {
        Operation[] tookEffect =
        [
            Write(1, "a", "a1", 0, 10, version: 1),
            DeleteUnknown(2, "a", 20),
            CompareAndSetUnknown(3, "b", null, "b1", 20),
            BatchUnknown(4, Set(("c", "c1")), null, 20),
            Read(5, "a", null, 30, 40),
            Read(5, "b", "b1", 50, 60, version: 3),
            Read(5, "c", "c1", 70, 80, version: 4),
        ];
        AssertLinearizable(tookEffect);

        Operation[] didNot =
        [
            Write(1, "a", "a1", 0, 10, version: 1),
            DeleteUnknown(2, "a", 20),
            CompareAndSetUnknown(3, "b", null, "b1", 20),
            BatchUnknown(4, Set(("c", "c1")), null, 20),
            Read(5, "a", "a1", 30, 40, version: 1),
            Read(5, "b", null, 50, 60),
            Read(5, "c", null, 70, 80),
        ];
        AssertLinearizable(didNot);
    }

    [Fact]
    public void Unknown_reads_are_ignored()
    {
        Operation[] history =
        [
            Write(1, "k", "a", 0, 10, version: 1),
            Read(2, "k", "nonsense", 20, 30, version: 99).AsUnknown(),
        ];

        var result = AssertLinearizable(history);
        Assert.Equal(1, result.OperationCount);
    }

    // ---------------------------------------------------------------- bounded search

    private static List<Operation> PathologicalHistory(int writers)
    {
        // Many fully concurrent writes, then two sequential reads that disagree about which was last: deciding that
        // nothing explains it means exploring every subset of the writes.
        var history = new List<Operation>();
        for (var i = 0; i < writers; i++)
        {
            history.Add(Write(i % 8, "k", "w" + i, 0, 1_000));
        }

        history.Add(Read(100, "k", "w0", 1_001, 1_002));
        history.Add(Read(101, "k", "w1", 1_003, 1_004));
        return history;
    }

    [Fact]
    public void Pathological_history_returns_Unknown_within_the_budget()
    {
        var history = PathologicalHistory(60);
        var stopwatch = Stopwatch.StartNew();
        var result = LinearizabilityChecker.Check(history, TimeSpan.FromMilliseconds(50));
        stopwatch.Stop();
        output.WriteLine($"{result.Describe()}\nwall clock: {stopwatch.Elapsed.TotalMilliseconds:0.#} ms");

        Assert.Equal(CheckOutcome.Unknown, result.Outcome);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
        Assert.Null(result.Violation);
    }

    [Fact]
    public void Step_limit_returns_Unknown()
    {
        var result = LinearizabilityChecker.Check(
            PathologicalHistory(40),
            new CheckOptions { Budget = TimeSpan.FromMinutes(1), MaxStepsPerPartition = 20_000 });

        Assert.Equal(CheckOutcome.Unknown, result.Outcome);
        Assert.InRange(Assert.Single(result.Partitions).Steps, 20_000, 21_000);
    }

    [Fact]
    public void Small_pathological_history_is_decided()
    {
        var report = AssertViolation(PathologicalHistory(8));
        Assert.True(report.IsMinimal);
        Assert.True(report.OffendingHistory.Count <= 4, report.Text); // w0, w1, and the two reads
    }

    // ---------------------------------------------------------------- randomized

    public static TheoryData<int> Seeds => new() { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Simulated_linearizable_histories_pass(int seed)
    {
        var history = HistorySimulator.Generate(seed);
        var result = AssertLinearizable(history, new CheckOptions { Budget = TimeSpan.FromSeconds(10) });

        foreach (var partition in result.Partitions)
        {
            output.WriteLine($"  {partition}");
            Assert.True(partition.Elapsed < TimeSpan.FromSeconds(1), $"partition took {partition.Elapsed}");
        }

        // Without versions (values and CAS outcomes only) too.
        AssertLinearizable(history, new CheckOptions { Budget = TimeSpan.FromSeconds(10), CheckVersions = false });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Simulated_single_key_histories_with_many_unknowns_pass(int seed)
    {
        var history = HistorySimulator.Generate(seed, new HistorySimulator.Settings { Keys = 1, Operations = 200, UnknownRate = 0.1, Batches = false });
        var result = AssertLinearizable(history);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(2), $"took {result.Elapsed}");
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Simulated_history_with_one_stale_read_is_caught(int seed)
    {
        var history = HistorySimulator.Generate(seed);
        var mutation = HistorySimulator.WithStaleRead(history, seed);
        Assert.NotNull(mutation);
        var (mutated, index) = mutation.Value;

        var report = AssertViolation(mutated);
        Assert.Contains(history[index].Key, report.Keys);
        Assert.InRange(report.OffendingHistory.Count, 3, 5); // typically: the stale read, the write it saw, the write after it
        Assert.Contains(mutated[index], report.OffendingHistory);
    }

    [Fact]
    public void Large_simulated_history_is_checked_quickly()
    {
        var history = HistorySimulator.Generate(42, new HistorySimulator.Settings { Operations = 2_000, Keys = 20, Clients = 16 });
        var result = AssertLinearizable(history, new CheckOptions { Budget = TimeSpan.FromSeconds(20) });
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(5), $"took {result.Elapsed}");
    }

    // ---------------------------------------------------------------- cross-check against brute force

    /// <summary>Tries every order of the operations that respects real time (unknown ones may also be left out).</summary>
    private static bool BruteForceLinearizable(IReadOnlyList<Operation> history, bool checkVersions)
    {
        var ops = history.Where(o => o.Known || o.Kind != OpKind.Read).Select(o => o.Known ? o : o with { Complete = long.MaxValue }).ToList();
        var model = new KeyValueModel(ops, checkVersions);
        var used = new bool[ops.Count];

        bool Search(long[] state, int remainingKnown)
        {
            if (remainingKnown == 0)
            {
                return true;
            }

            for (var i = 0; i < ops.Count; i++)
            {
                if (used[i] || Enumerable.Range(0, ops.Count).Any(j => !used[j] && j != i && ops[j].Known && ops[j].Complete < ops[i].Invoke))
                {
                    continue;
                }

                var next = model.Step(state, i);
                if (next is null)
                {
                    continue;
                }

                used[i] = true;
                if (Search(next, remainingKnown - (ops[i].Known ? 1 : 0)))
                {
                    return true;
                }

                used[i] = false;
            }

            return false;
        }

        return Search(model.InitialState(), ops.Count(o => o.Known));
    }

    private static List<Operation> Corrupt(List<Operation> history, Random rng)
    {
        var result = history.ToList();
        var i = rng.Next(result.Count);
        var op = result[i];
        var writes = history.Where(w => w.Kind == OpKind.Write && w.Key == op.Key).ToList();
        result[i] = (rng.Next(4), op.Kind) switch
        {
            (0, OpKind.Read) when writes.Count > 0 && rng.Next(3) > 0 => writes[rng.Next(writes.Count)] is var w
                ? op with { ReadValue = w.Value, Version = rng.Next(2) == 0 ? w.Version : w.Version + 1 }
                : op,
            (0, OpKind.Read) => op with { ReadValue = null, Version = null },
            (1, OpKind.CompareAndSet) when op.Known => op with { Success = op.Success != true, Version = op.Success == true ? null : 1_000 },
            (1, OpKind.Delete) when op.Known => op with { Success = op.Success != true },
            (2, _) when op.Known => op with { Invoke = op.Invoke + 30, Complete = op.Complete + 30 },
            (3, _) when op.Kind != OpKind.Read => op.AsUnknown(),
            _ => op with { Invoke = Math.Max(0, op.Invoke - 30) },
        };
        return result;
    }

    [Fact]
    public void Checker_agrees_with_brute_force_on_small_random_histories()
    {
        var rng = new Random(2024);
        int linearizable = 0, violations = 0;
        for (var round = 0; round < 10_000; round++)
        {
            var settings = new HistorySimulator.Settings
            {
                Operations = rng.Next(2, 11),
                Keys = rng.Next(1, 4),
                Clients = rng.Next(2, 5),
                UnknownRate = 0.2,
                MaxDuration = 40,
            };
            var history = HistorySimulator.Generate(rng.Next(), settings);
            for (var corruptions = rng.Next(4); corruptions > 0; corruptions--)
            {
                history = Corrupt(history, rng);
            }

            foreach (var checkVersions in new[] { true, false })
            {
                var expected = BruteForceLinearizable(history, checkVersions);
                var result = LinearizabilityChecker.Check(history, new CheckOptions { Budget = Budget, CheckVersions = checkVersions, Parallel = false });
                var context = $"round {round}, versions {checkVersions}:\n{string.Join("\n", history.Select(o => o.Describe(0)))}\n{result.Describe()}";
                Assert.True(result.Outcome == (expected ? CheckOutcome.Ok : CheckOutcome.Violation), context);
                if (!expected)
                {
                    // The reported witness must itself be non-linearizable.
                    Assert.False(BruteForceLinearizable(result.Violation!.OffendingHistory, checkVersions), context);
                    violations++;
                }
                else
                {
                    linearizable++;
                }
            }
        }

        output.WriteLine($"{linearizable} linearizable, {violations} violations");
        Assert.True(violations > 1_500 && linearizable > 1_500, $"{linearizable} linearizable, {violations} violations");
    }

    // ---------------------------------------------------------------- recorder

    [Fact]
    public void Recorder_records_a_concurrent_history_that_checks()
    {
        // A lock-protected register is linearizable: record 8 threads hammering it and check the history.
        var recorder = new HistoryRecorder();
        var gate = new Lock();
        string? value = null;
        long version = 0;
        long revision = 0;

        void Client(int id)
        {
            var rng = new Random(id);
            for (var i = 0; i < 50; i++)
            {
                switch (rng.Next(4))
                {
                    case 0:
                        {
                            var h = recorder.BeginWrite(id, "k", $"c{id}-{i}");
                            long v;
                            lock (gate)
                            {
                                value = $"c{id}-{i}";
                                version = v = ++revision;
                            }

                            recorder.CompleteWrite(h, v);
                            break;
                        }

                    case 1:
                        {
                            long? expected;
                            lock (gate)
                            {
                                expected = value is null ? null : version; // what this client "last saw"
                            }

                            var h = recorder.BeginCompareAndSet(id, "k", expected, $"c{id}-{i}-cas");
                            bool ok;
                            long? v = null;
                            lock (gate)
                            {
                                ok = value is not null ? version == expected : expected is null;
                                if (ok)
                                {
                                    value = $"c{id}-{i}-cas";
                                    version = ++revision;
                                    v = version;
                                }
                            }

                            recorder.CompleteCompareAndSet(h, ok, v);
                            break;
                        }

                    case 2:
                        {
                            var h = recorder.BeginWrite(id, "k", $"lost-{id}-{i}");
                            recorder.CompleteUnknown(h); // timed out before reaching the register
                            break;
                        }

                    default:
                        {
                            var h = recorder.BeginRead(id, "k");
                            string? seen;
                            long? v;
                            lock (gate)
                            {
                                seen = value;
                                v = value is null ? null : version;
                            }

                            recorder.Complete(h, OpResult.ReadOk(seen, v));
                            break;
                        }
                }
            }
        }

        var threads = Enumerable.Range(1, 8).Select(id => new Thread(() => Client(id))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        var history = recorder.Snapshot();
        Assert.Equal(400, history.Count);
        Assert.All(history, o => Assert.True(!o.Known || o.Complete >= o.Invoke));
        AssertLinearizable(history);
    }

    [Fact]
    public void Recorder_reports_pending_operations_as_unknown_and_rejects_double_completion()
    {
        var recorder = new HistoryRecorder();
        var write = recorder.BeginWrite(1, "k", "v");
        var read = recorder.BeginRead(2, "k");
        var batch = recorder.BeginBatch(3, Set(("a", "1")), ["b"]);

        var snapshot = recorder.Snapshot();
        Assert.All(snapshot, o => Assert.False(o.Known));
        Assert.All(snapshot, o => Assert.Equal(long.MaxValue, o.Complete));

        recorder.CompleteWrite(write, 3);
        recorder.CompleteRead(read, "v", 3);
        recorder.CompleteUnknown(batch);
        Assert.Throws<InvalidOperationException>(() => recorder.CompleteWrite(write, 4));
        Assert.Throws<InvalidOperationException>(() => recorder.CompleteBatch(read, 4));
        Assert.Throws<ArgumentException>(() => new HistoryRecorder().CompleteUnknown(write));

        var history = recorder.Snapshot();
        Assert.Equal(3, history.Count);
        Assert.True(history[0].Known);
        Assert.Equal(3, history[0].Version);
        Assert.True(history[0].Complete >= history[0].Invoke);
        Assert.Equal("v", history[1].ReadValue);
        Assert.False(history[2].Known);
        AssertLinearizable(history);
    }

    [Fact]
    public void Malformed_operations_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([Write(1, "k", "v", 10, 5)], Budget));
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([Read(1, "k", null, 0, 1, version: 3)], Budget));
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([Batch(1, Set(("a", "1")), ["a"], 0, 1)], Budget));
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([Batch(1, null, null, 0, 1)], Budget));
    }

    [Fact]
    public void Violation_report_is_readable()
    {
        Operation[] history =
        [
            Write(1, "k", "old", 0, 10, version: 1),
            Write(2, "k", "new", 20, 30, version: 2),
            Read(3, "k", "old", 40, 50, version: 1),
        ];

        var result = CheckAndLog(history);
        var text = result.Describe();
        Assert.Contains("NOT LINEARIZABLE: partition {k}", text, StringComparison.Ordinal);
        Assert.Contains("c3 read(k) -> \"old\" @1", text, StringComparison.Ordinal);
        Assert.Contains("Longest linearizable prefix found: 2 operation(s)", text, StringComparison.Ordinal);
        Assert.Contains("it saw \"old\"@1 but k holds \"new\"@2", text, StringComparison.Ordinal);
    }
}
