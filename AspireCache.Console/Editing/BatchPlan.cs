using System.Text;
using AspireCache.Console.Options;

namespace AspireCache.Console.Editing;

/// <summary>
/// The staged changes as one <c>POST /cache/batch</c>: sets, deletes, and a condition per key (each
/// key still at the version the operator saw; 0 = still absent), with its size checked against the
/// nodes' limits before it is sent.
/// </summary>
public sealed class BatchPlan
{
    private BatchPlan(IReadOnlyList<StagedChange> changes, CacheLimits limits)
    {
        Changes = changes;
        Sets = changes.Where(c => c.Kind == ChangeKind.Set).ToDictionary(c => c.Key, c => c.NewValue ?? ReadOnlyMemory<byte>.Empty, StringComparer.Ordinal);
        Deletes = [.. changes.Where(c => c.Kind == ChangeKind.Delete).Select(c => c.Key)];
        Conditions = changes.ToDictionary(c => c.Key, c => c.BaseVersion, StringComparer.Ordinal);
        BodyBytes = EstimateBodyBytes(changes);
        Hint = LimitHint.ForBatch(changes.Count, BodyBytes, limits);
        ValueProblems = [.. changes
            .Where(c => c.Kind == ChangeKind.Set && (c.NewValue?.Length ?? 0) > limits.MaxValueBytes)
            .Select(c => $"{c.Key}: {LimitHint.ForValue(c.NewValue!.Value.Length, limits).Message}")];
    }

    public IReadOnlyList<StagedChange> Changes { get; }

    public IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Sets { get; }

    public IReadOnlyList<string> Deletes { get; }

    /// <summary>Key → the version it must still have (0 = must be absent).</summary>
    public IReadOnlyDictionary<string, long> Conditions { get; }

    /// <summary>About how large the request body is (values in base64, JSON punctuation included).</summary>
    public long BodyBytes { get; }

    /// <summary>The batch against the nodes' batch limits.</summary>
    public LimitHint Hint { get; }

    /// <summary>Values over the per-value limit.</summary>
    public IReadOnlyList<string> ValueProblems { get; }

    /// <summary>Nothing is over a limit and there is something to publish.</summary>
    public bool CanPublish => Changes.Count > 0 && !Hint.IsOver && ValueProblems.Count == 0;

    public static BatchPlan From(IReadOnlyList<StagedChange> changes, CacheLimits limits) => new(changes, limits);

    private static long EstimateBodyBytes(IReadOnlyList<StagedChange> changes)
    {
        long bytes = 40; // {"set":{},"delete":[],"if":{}}
        foreach (var change in changes)
        {
            var key = Encoding.UTF8.GetByteCount(change.Key) + 4;
            bytes += key + 22; // the condition: "key":version,
            bytes += change.Kind == ChangeKind.Set
                ? key + 3 + (((change.NewValue?.Length ?? 0) + 2) / 3 * 4)
                : key + 1;
        }

        return bytes;
    }
}
