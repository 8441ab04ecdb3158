using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>The end of every checker test: check a recorded history, report it, keep it when it is a violation.</summary>
internal static class HistoryCheck
{
    /// <summary>
    /// Checks <paramref name="history"/> for linearizability (a minute at most), writes the verdict to
    /// <paramref name="output"/> (and the history's file, named after <paramref name="name"/>, on a
    /// violation) and fails the test unless it is linearizable. Returns the acknowledged reads and writes.
    /// </summary>
    public static (int Reads, int Writes) AssertLinearizable(HistoryRecorder history, ITestOutputHelper output, string name)
    {
        var operations = history.Snapshot();
        var reads = operations.Count(o => o.Known && o.Kind == OpKind.Read);
        var writes = operations.Count(o => o.Known && o.Kind == OpKind.Write);
        output.WriteLine($"{operations.Count} operations: {reads} reads and {writes} writes acknowledged, {operations.Count(o => !o.Known)} unknown or failed");
        var result = LinearizabilityChecker.Check(operations, TimeSpan.FromSeconds(60));
        output.WriteLine(result.Describe());
        if (result.Outcome == CheckOutcome.Violation)
        {
            output.WriteLine($"full history: {history.Dump(name)}");
        }

        Assert.True(result.Outcome == CheckOutcome.Ok, result.Describe());
        return (reads, writes);
    }
}
