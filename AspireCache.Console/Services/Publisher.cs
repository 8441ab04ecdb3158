using AspireCache.Client;
using AspireCache.Console.Diagnostics;
using AspireCache.Console.Editing;

namespace AspireCache.Console.Services;

/// <summary>A staged change whose key moved on since it was staged: the staged change beside the key as it is now (null: absent).</summary>
public sealed record StagedConflict(StagedChange Change, KeyDetails? Current);

/// <summary>The result of a publish: the batch's revision, or the conflicts that stopped it, or an error.</summary>
public sealed record PublishOutcome(long? Revision, IReadOnlyList<StagedConflict> Conflicts, string? Error)
{
    public bool Succeeded => Revision is not null;
}

/// <summary>
/// Publishes staged changes as one atomic batch (<see cref="IAspireCacheClient.BatchAsync"/>) with a
/// condition per key: each key still at the version the operator saw (0: still absent). All of them
/// take effect at one revision, or none: when a condition fails nothing is written, and the keys are
/// read again to show which ones moved.
/// </summary>
public sealed class Publisher(ConsoleTelemetry telemetry, ILogger<Publisher> logger)
{
    public async Task<PublishOutcome> PublishAsync(IAspireCacheClient client, IClusterApi cluster, BatchPlan plan, string fingerprint, CancellationToken cancellationToken = default)
    {
        if (!plan.CanPublish)
        {
            return new PublishOutcome(null, [], plan.Changes.Count == 0 ? "Nothing is staged." : plan.ValueProblems.FirstOrDefault() ?? plan.Hint.Message);
        }

        try
        {
            var revision = await client.BatchAsync(plan.Sets, plan.Deletes, plan.Conditions, cancellationToken: cancellationToken);
            telemetry.Batch("published");
            ConsoleLog.BatchPublished(logger, plan.Changes.Count, revision, fingerprint);
            return new PublishOutcome(revision, [], null);
        }
        catch (PreconditionFailedException)
        {
            var conflicts = await FindConflictsAsync(cluster, plan.Changes, cancellationToken);
            telemetry.Batch("conflict");
            ConsoleLog.BatchConflict(logger, plan.Changes.Count, conflicts.Count);
            return new PublishOutcome(null, conflicts, conflicts.Count == 0
                ? "The cluster refused the batch's conditions, but every key reads as staged now: another change came and went. Publish again."
                : null);
        }
        catch (AspireCacheException ex)
        {
            telemetry.Batch("refused");
            return new PublishOutcome(null, [], KeyWrites.Explain(ex));
        }
    }

    /// <summary>The staged changes whose key is no longer at the staged base version.</summary>
    public static async Task<IReadOnlyList<StagedConflict>> FindConflictsAsync(IClusterApi cluster, IReadOnlyList<StagedChange> changes, CancellationToken cancellationToken = default)
    {
        var conflicts = new List<StagedConflict>();
        foreach (var change in changes)
        {
            var current = await cluster.GetKeyAsync(change.Key, cancellationToken);
            if ((current?.Version ?? 0) != change.BaseVersion)
            {
                conflicts.Add(new StagedConflict(change, current));
            }
        }

        return conflicts;
    }
}
