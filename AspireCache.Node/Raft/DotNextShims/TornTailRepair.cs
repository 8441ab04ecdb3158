using DotNext.IO;
using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Mends a log tail that a crash left half rewritten, before Raft starts.
/// <para>
/// A DotNext 6.12 follower rewrites its log from the first entry a leader sends, above its commit index, and
/// its new last index reaches disk only with the next checkpoint, which the background flusher writes a
/// moment later (up to a few hundred milliseconds under load). The rewritten entries' data goes after the end
/// of the old last entry; their metadata replaces the old entries' in place. Killed in between (<c>kill -9</c>:
/// the mapped pages survive, the checkpoint is the old one), the node restarts with the old last index L,
/// whose entry is still an old one, and its write position after that old entry: before the rewritten entries'
/// data. The next append then overwrites the bytes of entries the cluster may have committed, and the node
/// applies whatever is there: an integrity failure (<see cref="StateMachine.CommandCodec"/>'s CRC halts the
/// apply) or, when the new bytes happen to be a whole valid entry, another entry's commands.
/// </para>
/// <para>
/// Such a tail is visible: the rewritten entries carry a newer term than the old ones left after them, and a
/// Raft log's terms never fall. So when a term falls above the commit index, the entries from the commit index
/// up to the fall are read into memory and appended again at the same indexes. That moves their data to the
/// write position, makes the entry before the fall the last one, and drops the old entries after it, as the
/// interrupted rewrite would have. Nothing acknowledged is dropped: those old entries conflict with entries a
/// newer leader sent, so they can never commit. The rewrite is flushed before Raft starts; a crash during it
/// leaves a tail this mends again.
/// </para>
/// </summary>
internal static class TornTailRepair
{
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(30);

    /// <summary>What was mended: entries <see cref="From"/>–<see cref="To"/> written again, the old ones up to <see cref="DroppedTo"/> dropped.</summary>
    public readonly record struct Repair(long From, long To, long DroppedTo);

    /// <summary>Mends <paramref name="log"/>'s tail when a term falls above its commit index; null when it is whole.</summary>
    public static async Task<Repair?> RepairAsync(IPersistentState log, CancellationToken token)
    {
        var trail = (IAuditTrail<IRaftLogEntry>)log;
        var (commit, last) = (log.LastCommittedEntryIndex, log.LastEntryIndex);
        if (last - commit < 2)
        {
            return null; // a fall above the commit index needs two entries there
        }

        var terms = await trail.ReadAsync(new TermsReader(), commit + 1, last, token);
        var fall = 1;
        while (fall < terms.Length && terms[fall] >= terms[fall - 1])
        {
            fall++;
        }

        if (fall == terms.Length)
        {
            return null;
        }

        var repair = new Repair(commit + 1, commit + fall, last);
        var copies = await trail.ReadAsync(new CopyReader(), repair.From, repair.To, token); // copies first: appending overwrites the originals' bytes
        await trail.AppendAsync(new LogEntryProducer<BinaryLogEntry>(copies), repair.From, skipCommitted: true, token);
        if (log is WriteAheadLog wal)
        {
            await WaitUntilDurableAsync(wal, repair.To, token);
        }

        return repair;
    }

    private static async Task WaitUntilDurableAsync(WriteAheadLog wal, long index, CancellationToken token)
    {
        var unflushedIndex = WalFlushProbe.Create();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(FlushTimeout);
        while (unflushedIndex(wal) <= index)
        {
            var flushed = WalFlushSignal.Next; // taken before the check: a flush in between still wakes us
            if (unflushedIndex(wal) > index)
            {
                return;
            }

            await flushed.WaitAsync(TimeSpan.FromMilliseconds(5), timeout.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            timeout.Token.ThrowIfCancellationRequested();
        }
    }

    private sealed class TermsReader : ILogEntryConsumer<IRaftLogEntry, long[]>
    {
        bool ILogEntryConsumer<IRaftLogEntry, long[]>.LogEntryMetadataOnly => true;

        ValueTask<long[]> ILogEntryConsumer<IRaftLogEntry, long[]>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token)
        {
            var terms = new long[entries.Count];
            for (var i = 0; i < terms.Length; i++)
            {
                terms[i] = entries[i].Term;
            }

            return new(terms);
        }
    }

    private sealed class CopyReader : ILogEntryConsumer<IRaftLogEntry, BinaryLogEntry[]>
    {
        bool ILogEntryConsumer<IRaftLogEntry, BinaryLogEntry[]>.LogEntryMetadataOnly => false;

        async ValueTask<BinaryLogEntry[]> ILogEntryConsumer<IRaftLogEntry, BinaryLogEntry[]>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token)
        {
            var copies = new BinaryLogEntry[entries.Count];
            for (var i = 0; i < copies.Length; i++)
            {
                var entry = entries[i];
                copies[i] = new BinaryLogEntry { Term = entry.Term, Content = await entry.ToByteArrayAsync(token: token), CommandId = entry.CommandId };
            }

            return copies;
        }
    }
}
