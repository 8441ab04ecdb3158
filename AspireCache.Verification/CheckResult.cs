using System.Globalization;
using System.Text;

namespace AspireCache.Verification;

public enum CheckOutcome
{
    /// <summary>The history is linearizable.</summary>
    Ok,

    /// <summary>The history is not linearizable: see <see cref="CheckResult.Violation"/>.</summary>
    Violation,

    /// <summary>The search ran out of time or steps before it could decide.</summary>
    Unknown,
}

/// <summary>Knobs of <see cref="LinearizabilityChecker.Check(IReadOnlyList{Operation}, CheckOptions)"/>.</summary>
public sealed record CheckOptions
{
    /// <summary>Wall-clock budget for the whole check (all partitions); past it undecided partitions are <see cref="CheckOutcome.Unknown"/>.</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Optional cap on search steps per partition (deterministic alternative to <see cref="Budget"/>).</summary>
    public long? MaxStepsPerPartition { get; init; }

    /// <summary>
    /// When <c>true</c> (default) recorded versions are checked: a read's version must be the version of the write it
    /// saw, writes must create versions greater than every earlier version of their keys. When <c>false</c> every
    /// output version is ignored and only values (and CAS outcomes) are checked.
    /// </summary>
    public bool CheckVersions { get; init; } = true;

    /// <summary>Shrink a violating partition to a 1-minimal non-linearizable sub-history (bounded by <see cref="MinimizeBudget"/>).</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>Extra time allowed for minimizing a violation (never past <see cref="Budget"/>).</summary>
    public TimeSpan MinimizeBudget { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Check independent partitions on several threads.</summary>
    public bool Parallel { get; init; } = true;
}

/// <summary>The verdict of one independent partition (a connected component of keys linked by batches).</summary>
public sealed class PartitionResult
{
    internal PartitionResult(IReadOnlyList<string> keys, CheckOutcome outcome, int operationCount, long steps, TimeSpan elapsed, ViolationReport? violation)
    {
        Keys = keys;
        Outcome = outcome;
        OperationCount = operationCount;
        Steps = steps;
        Elapsed = elapsed;
        Violation = violation;
    }

    public IReadOnlyList<string> Keys { get; }

    public CheckOutcome Outcome { get; }

    /// <summary>Operations of this partition (unknown reads excluded).</summary>
    public int OperationCount { get; }

    /// <summary>Search steps spent on the verdict (minimization excluded).</summary>
    public long Steps { get; }

    /// <summary>Time spent on the verdict (minimization excluded).</summary>
    public TimeSpan Elapsed { get; }

    public ViolationReport? Violation { get; }

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{{{string.Join(", ", Keys)}}}: {Outcome} ({OperationCount} ops, {Steps} steps, {Elapsed.TotalMilliseconds:0.###} ms)");
}

/// <summary>Why a partition is not linearizable.</summary>
public sealed class ViolationReport
{
    internal ViolationReport(
        IReadOnlyList<string> keys,
        IReadOnlyList<Operation> offendingHistory,
        bool isMinimal,
        int partitionOperationCount,
        IReadOnlyList<Operation> linearizablePrefix,
        Operation? blockedOperation,
        IReadOnlyList<Operation> unlinearizable,
        string text)
    {
        Keys = keys;
        OffendingHistory = offendingHistory;
        IsMinimal = isMinimal;
        PartitionOperationCount = partitionOperationCount;
        LinearizablePrefix = linearizablePrefix;
        BlockedOperation = blockedOperation;
        Unlinearizable = unlinearizable;
        Text = text;
    }

    /// <summary>The keys of the violating partition.</summary>
    public IReadOnlyList<string> Keys { get; }

    /// <summary>
    /// A non-linearizable sub-history of the partition, in invoke order: a genuine witness (any linearization of the
    /// full history would restrict to a linearization of it). When <see cref="IsMinimal"/>, dropping any one of its
    /// operations that can be dropped without creating an anomaly of its own (e.g. the write a read saw) makes it
    /// linearizable.
    /// </summary>
    public IReadOnlyList<Operation> OffendingHistory { get; }

    public bool IsMinimal { get; }

    public int PartitionOperationCount { get; }

    /// <summary>The longest linearization the search found for <see cref="OffendingHistory"/>, in linearization order.</summary>
    public IReadOnlyList<Operation> LinearizablePrefix { get; }

    /// <summary>The operation whose response arrived before it (or anything else) could take effect after that prefix.</summary>
    public Operation? BlockedOperation { get; }

    /// <summary>The operations that were pending at that point and could not be linearized next (the blocked one included).</summary>
    public IReadOnlyList<Operation> Unlinearizable { get; }

    /// <summary>Human-readable explanation.</summary>
    public string Text { get; }

    public override string ToString() => Text;
}

/// <summary>The verdict of <see cref="LinearizabilityChecker.Check(IReadOnlyList{Operation}, TimeSpan)"/>.</summary>
public sealed class CheckResult
{
    internal CheckResult(CheckOutcome outcome, IReadOnlyList<PartitionResult> partitions, TimeSpan elapsed, int operationCount)
    {
        Outcome = outcome;
        Partitions = partitions;
        Elapsed = elapsed;
        OperationCount = operationCount;
    }

    public CheckOutcome Outcome { get; }

    public bool IsLinearizable => Outcome == CheckOutcome.Ok;

    public IReadOnlyList<PartitionResult> Partitions { get; }

    /// <summary>The first violating partition's report (null unless <see cref="Outcome"/> is <see cref="CheckOutcome.Violation"/>).</summary>
    public ViolationReport? Violation => Partitions.FirstOrDefault(p => p.Violation is not null)?.Violation;

    /// <summary>All violating partitions' reports.</summary>
    public IEnumerable<ViolationReport> Violations => Partitions.Where(p => p.Violation is not null).Select(p => p.Violation!);

    public TimeSpan Elapsed { get; }

    public int OperationCount { get; }

    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Linearizability: {Outcome} ({OperationCount} ops in {Partitions.Count} partition(s), {Elapsed.TotalMilliseconds:0.###} ms)");
        var undecided = Partitions.Where(p => p.Outcome == CheckOutcome.Unknown).ToList();
        if (undecided.Count > 0)
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"Undecided (budget exhausted): {string.Join("; ", undecided)}");
        }

        foreach (var violation in Violations)
        {
            sb.AppendLine();
            sb.Append(violation.Text);
        }

        return sb.ToString();
    }

    public override string ToString() => Describe();
}
