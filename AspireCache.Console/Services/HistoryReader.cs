using AspireCache.Client;

namespace AspireCache.Console.Services;

/// <summary>
/// The recent changes under a prefix (or of one key), newest first, as far back as the node that
/// answered keeps them: <see cref="Since"/> is the revision they start after.
/// </summary>
/// <param name="Changes">The changes, newest first (at most the reader's limit: the newest ones).</param>
/// <param name="Since">The history covers every change after this revision (0: since the cluster began).</param>
/// <param name="Through">The revision the history was read up to.</param>
/// <param name="Node">The node whose history it is (histories are per node).</param>
/// <param name="Complete">False when the read stopped early (timeout, or the history moved while it was read).</param>
/// <param name="Dropped">Older changes beyond the limit that are not shown.</param>
public sealed record ChangeHistory(IReadOnlyList<WatchEvent> Changes, long Since, long Through, string? Node, bool Complete, int Dropped);

/// <summary>
/// Reads a node's watch history, which is all the history there is: each node keeps its recent
/// changes (bounded by <c>Watch:HistoryMaxEvents</c> and <c>Watch:HistoryMaxBytes</c>) for resuming
/// watches, not an audit log. The reader asks where the answering node's history starts, then
/// replays it with <see cref="IAspireCacheClient.WatchAsync"/> from there up to the revision current
/// when it began, and keeps the newest changes.
/// </summary>
public static class HistoryReader
{
    /// <param name="client">The operator's client.</param>
    /// <param name="cluster">The operator's extra calls (where history starts).</param>
    /// <param name="prefix">The prefix (a key's own history: the key, filtered to exact matches by <paramref name="exactKey"/>).</param>
    /// <param name="exactKey">Only this key's changes, if set.</param>
    /// <param name="max">How many of the newest changes to keep.</param>
    /// <param name="timeout">How long to read before showing what arrived.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public static async Task<ChangeHistory> ReadAsync(IAspireCacheClient client, IClusterApi cluster, string prefix, string? exactKey, int max, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        // The revision to read up to: a (one-key, valueless) list page is taken at the current revision.
        var through = (await client.ListPageAsync(prefix, limit: 1, values: false, cancellationToken: cancellationToken)).Revision;
        var start = await cluster.HistoryStartAsync(prefix, cancellationToken);
        var changes = new Queue<WatchEvent>();
        var dropped = 0;
        var complete = false;
        if (start.OldestRevision >= through)
        {
            return new ChangeHistory([], start.OldestRevision, through, start.Node, Complete: true, 0);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var request = new WatchRequest
        {
            Prefixes = [prefix],
            AfterRevision = start.OldestRevision,
            // An idle stream reports progress this often: the read ends on the first progress at or past `through`.
            ProgressInterval = TimeSpan.FromMilliseconds(100),
        };
        try
        {
            await foreach (var change in client.WatchAsync(request, deadline.Token))
            {
                if (change.Type == WatchEventType.Resync)
                {
                    // The node no longer had the start point (another node answered, or history moved on): what
                    // follows is a listing, not history. Show what was read.
                    break;
                }

                if (change.Type != WatchEventType.Progress && change.Revision <= through && (exactKey is null || change.Key == exactKey))
                {
                    changes.Enqueue(change);
                    if (changes.Count > max)
                    {
                        changes.Dequeue();
                        dropped++;
                    }
                }

                if (change.Revision >= through)
                {
                    complete = true;
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Timed out: show what arrived.
        }

        return new ChangeHistory([.. changes.Reverse()], start.OldestRevision, through, start.Node, complete, dropped);
    }

    /// <summary>The value the key had just before <paramref name="change"/>, if the history shows it (its previous put).</summary>
    public static WatchEvent? PreviousPut(ChangeHistory history, WatchEvent change) =>
        history.Changes.FirstOrDefault(c => c.Key == change.Key && c.Revision < change.Revision && c.Type == WatchEventType.Put) is { } before
        && !history.Changes.Any(c => c.Key == change.Key && c.Revision < change.Revision && c.Revision > before.Revision)
            ? before
            : null;
}
