using System.Reflection;
using DotNext.IO;
using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Mends a log tail that a crash left half rewritten, before Raft starts.
/// <para>
/// A DotNext 6.12 follower rewrites its log from the first entry a leader sends, above its commit index. Each
/// rewritten entry's data goes to the write position, after the end of the old last entry, and its metadata
/// replaces the old entry's in place. The new last index reaches disk only with the next checkpoint, which the
/// background flusher writes a moment later (up to a few hundred milliseconds under load); a request whose body
/// breaks part way never triggers it at all. Killed in between (<c>kill -9</c>: the mapped pages survive, the
/// checkpoint is the old one), the node restarts with the old last index L, whose entry is still an old one, and
/// a write position at that old entry's end: before the rewritten entries' data. The next append then
/// overwrites the bytes of entries the cluster may have committed, and the node applies whatever is there: an
/// integrity failure (<see cref="StateMachine.CommandCodec"/>'s CRC halts the apply) or, when the new bytes
/// happen to be a whole valid entry, another entry's commands.
/// </para>
/// <para>
/// Such a tail is visible by address: the rewritten entries' data ends after the write position, which no entry
/// of a whole log does. The run starts at the first such entry above the commit index and goes on while the next
/// one lies past the position too and neither its term nor its data end falls: two rewrites with no checkpoint between leave both
/// runs there, and the later one started at or before the earlier one's end and cut the log where it ended. The run
/// is read into memory, the write position is moved past the furthest data of every such entry, and the run is
/// appended again at the same indexes: that makes its last entry the log's last one, drops the entries after it,
/// as the interrupted rewrite would have, and is flushed before Raft starts. Nothing acknowledged is dropped: the
/// old entries conflict with entries a newer leader sent, so they can never commit. The copies never land on the
/// originals, so a crash during the repair leaves a tail the next start mends the same way.
/// </para>
/// <para>
/// A rewrite whose entries carry no bytes (a new leader's no-op, sent alone) leaves no data past the position. It is
/// visible by a fall instead: neither terms nor data ends fall along a whole log above the commit index (the stale
/// entries a snapshot leaves after itself included), and the old entries after such a rewrite carry an older term
/// than its last one (a new leader's) or end before it (its empty entry sits at the write position, after them). Left as it was, a later leader holding those old entries would find its previous entry "matched" here
/// and commit them behind the no-op, which this node would apply in place of that leader's entry: the replicas
/// diverge (found by review, session 32; it takes five or more members). The log is cut after the last entry before
/// the fall by appending that entry again at its index, the same way.
/// </para>
/// <para>
/// The write position and each entry's data address are private to DotNext's WAL: <see cref="WalInternals"/>
/// reads them, and moves the position, by reflection, checked against the pinned DotNext version by the tests.
/// </para>
/// </summary>
internal static class TornTailRepair
{
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(30);

    /// <summary>What was mended: entries <see cref="From"/>–<see cref="To"/> written again, the old ones up to <see cref="DroppedTo"/> dropped.</summary>
    public readonly record struct Repair(long From, long To, long DroppedTo);

    /// <summary>Mends <paramref name="log"/>'s tail when entries above its commit index lie past its write position or their terms fall; null when it is whole.</summary>
    public static async Task<Repair?> RepairAsync(IPersistentState log, CancellationToken token)
    {
        if (log is not WriteAheadLog wal || wal.LastEntryIndex <= wal.LastCommittedEntryIndex)
        {
            return null;
        }

        var (commit, last) = (wal.LastCommittedEntryIndex, wal.LastEntryIndex);
        var position = WalInternals.WritePosition(wal);
        var ends = new ulong[last - commit]; // ends[i]: where entry commit + 1 + i's data ends
        for (var i = 0; i < ends.Length; i++)
        {
            ends[i] = WalInternals.EndOf(wal, commit + 1 + i);
        }

        // Neither terms nor data ends fall along a whole log above its commit index (each append cuts the log after
        // itself, and the write position only grows): a fall proves a rewrite that ended there. One whose entries carry
        // no bytes (a new leader's no-op) leaves no data past the write position to find it by, but its entry "ends" at
        // the position, after the old entries that follow it, and a newer leader's entry has a higher term than theirs.
        var terms = await LogTerms.TermsAsync(wal, commit + 1, last, token); // terms[i]: entry commit + 1 + i's
        bool FallsAfter(int i) => terms[i + 1] < terms[i] || ends[i + 1] < ends[i];
        var fall = Enumerable.Range(0, ends.Length - 1).FirstOrDefault(FallsAfter, -1);
        var first = Array.FindIndex(ends, end => end > position);
        if (first < 0 && fall < 0)
        {
            return null;
        }

        int start, stop; // the entries appended again, as indexes into ends and terms
        if (first >= 0 && (fall < 0 || fall >= first))
        {
            // The run goes on while entries lie past the write position and no fall comes. Two rewrites with no
            // checkpoint between leave both runs there; the later starts at or before the earlier's end and cut the
            // log there, so whatever follows a gap or a fall is what it cut.
            start = stop = first;
            while (stop + 1 < ends.Length && ends[stop + 1] > position && !FallsAfter(stop))
            {
                stop++;
            }
        }
        else
        {
            start = stop = fall; // the last entry the rewrite left: the log ends there
        }

        var (from, to) = (commit + 1 + start, commit + 1 + stop);
        var furthest = Math.Max(position, ends.Max()); // the dropped rewrite's data too: no copy lands on any original
        var trail = (IAuditTrail<IRaftLogEntry>)wal;
        var copies = await trail.ReadAsync(new CopyReader(), from, to, token);
        WalInternals.MoveWritePosition(wal, furthest); // the copies go after every original
        await trail.AppendAsync(new LogEntryProducer<BinaryLogEntry>(copies), from, skipCommitted: true, token);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(token))
        {
            timeout.CancelAfter(FlushTimeout);
            try
            {
                await WalFlushSignal.WaitUntilDurableAsync(wal, WalFlushProbe.Create(), to, timeout.Token);
            }
            catch (OperationCanceledException) when (!token.IsCancellationRequested)
            {
                throw new IOException($"The WAL did not flush its mended tail (entries {from}-{to}) within {FlushTimeout.TotalSeconds:0} s; is its disk full or failing?");
            }
        }

        return new Repair(from, to, last);
    }

    /// <summary>Copies entries into memory, payload and all, to be appended again.</summary>
    internal sealed class CopyReader : ILogEntryConsumer<IRaftLogEntry, BinaryLogEntry[]>
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

    /// <summary>DotNext 6.12 <see cref="WriteAheadLog"/> internals the repair needs (private; reflection, resolved once).</summary>
    internal static class WalInternals
    {
        private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

        private static readonly FieldInfo MetadataPages = Find(typeof(WriteAheadLog).GetField("metadataPages", Instance), "WriteAheadLog.metadataPages");
        private static readonly MethodInfo TryGetMetadata = Find(MetadataPages.FieldType.GetMethod("TryGetMetadata", Instance), "MetadataPageManager.TryGetMetadata");
        private static readonly Type Metadata = TryGetMetadata.GetParameters()[1].ParameterType.GetElementType()!;
        private static readonly FieldInfo Offset = Find(Metadata.GetField("Offset", Instance), "LogEntryMetadata.Offset");
        private static readonly FieldInfo Length = Find(Metadata.GetField("Length", Instance), "LogEntryMetadata.Length");
        private static readonly FieldInfo DataPages = Find(typeof(WriteAheadLog).GetField("dataPages", Instance), "WriteAheadLog.dataPages");
        private static readonly FieldInfo LastWrittenAddress = Find(DataPages.FieldType.GetField("LastWrittenAddress", Instance), "PagedBufferWriter.LastWrittenAddress");

        /// <summary>Where the next entry's data goes.</summary>
        public static ulong WritePosition(WriteAheadLog wal) => (ulong)LastWrittenAddress.GetValue(DataPages.GetValue(wal))!;

        public static void MoveWritePosition(WriteAheadLog wal, ulong address) => LastWrittenAddress.SetValue(DataPages.GetValue(wal), address);

        /// <summary>Where entry <paramref name="index"/>'s data ends (0 when its metadata page does not exist).</summary>
        public static ulong EndOf(WriteAheadLog wal, long index)
        {
            object?[] arguments = [index, null];
            return (bool)TryGetMetadata.Invoke(MetadataPages.GetValue(wal), arguments)!
                ? (ulong)Offset.GetValue(arguments[1])! + (ulong)(long)Length.GetValue(arguments[1])!
                : 0;
        }

        private static T Find<T>(T? member, string name) where T : MemberInfo => member
            ?? throw new NotSupportedException($"DotNext's WriteAheadLog no longer has {name}: re-examine TornTailRepair against the referenced DotNext version.");
    }
}
