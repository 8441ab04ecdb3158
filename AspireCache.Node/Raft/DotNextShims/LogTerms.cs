using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>The term of a log entry, read without its payload (DotNext's own helper is internal).</summary>
internal static class LogTerms
{
    /// <summary>The term of entry <paramref name="index"/> (0 for the empty log's index 0).</summary>
    public static ValueTask<long> TermAtAsync(IPersistentState log, long index, CancellationToken token) =>
        index <= 0 ? ValueTask.FromResult(0L) : ((IAuditTrail<IRaftLogEntry>)log).ReadAsync(TermReader.Instance, index, index, token);

    /// <summary>The terms of entries <paramref name="from"/>–<paramref name="to"/> (above the snapshot), in index order.</summary>
    public static ValueTask<long[]> TermsAsync(IPersistentState log, long from, long to, CancellationToken token) =>
        ((IAuditTrail<IRaftLogEntry>)log).ReadAsync(TermsReader.Instance, from, to, token);

    /// <summary>
    /// Raft's "at least as up to date" (§5.4.1): a candidate whose last entry has a later term, or the
    /// same term and an index at least ours, may lead without losing an entry this log holds.
    /// </summary>
    public static async ValueTask<bool> IsUpToDateAsync(IPersistentState log, long lastIndex, long lastTerm, CancellationToken token) =>
        await CompareAsync(log, lastIndex, lastTerm, token) >= 0;

    /// <summary>
    /// How a log ending at (<paramref name="lastIndex"/>, <paramref name="lastTerm"/>) compares with this
    /// one by §5.4.1: positive when it is more up to date, 0 when it ends at the same entry, negative when behind.
    /// </summary>
    public static async ValueTask<int> CompareAsync(IPersistentState log, long lastIndex, long lastTerm, CancellationToken token)
    {
        var localIndex = log.LastEntryIndex;
        var localTerm = await TermAtAsync(log, localIndex, token);
        return lastTerm != localTerm ? lastTerm.CompareTo(localTerm) : lastIndex.CompareTo(localIndex);
    }

    private sealed class TermsReader : ILogEntryConsumer<IRaftLogEntry, long[]>
    {
        public static readonly TermsReader Instance = new();

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

    private sealed class TermReader : ILogEntryConsumer<IRaftLogEntry, long>
    {
        public static readonly TermReader Instance = new();

        bool ILogEntryConsumer<IRaftLogEntry, long>.LogEntryMetadataOnly => true;

        ValueTask<long> ILogEntryConsumer<IRaftLogEntry, long>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token) =>
            new(entries[0].Term);
    }
}
