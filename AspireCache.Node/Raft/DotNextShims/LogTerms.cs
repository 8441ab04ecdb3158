using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>The term of a log entry, read without its payload (DotNext's own helper is internal).</summary>
internal static class LogTerms
{
    /// <summary>The term of entry <paramref name="index"/> (0 for the empty log's index 0).</summary>
    public static ValueTask<long> TermAtAsync(IPersistentState log, long index, CancellationToken token) =>
        index <= 0 ? ValueTask.FromResult(0L) : ((IAuditTrail<IRaftLogEntry>)log).ReadAsync(TermReader.Instance, index, index, token);

    /// <summary>
    /// Raft's "at least as up to date" (§5.4.1): a candidate whose last entry has a later term, or the
    /// same term and an index at least ours, may lead without losing an entry this log holds.
    /// </summary>
    public static async ValueTask<bool> IsUpToDateAsync(IPersistentState log, long lastIndex, long lastTerm, CancellationToken token)
    {
        var localIndex = log.LastEntryIndex;
        var localTerm = await TermAtAsync(log, localIndex, token);
        return lastTerm > localTerm || (lastTerm == localTerm && lastIndex >= localIndex);
    }

    private sealed class TermReader : ILogEntryConsumer<IRaftLogEntry, long>
    {
        public static readonly TermReader Instance = new();

        bool ILogEntryConsumer<IRaftLogEntry, long>.LogEntryMetadataOnly => true;

        ValueTask<long> ILogEntryConsumer<IRaftLogEntry, long>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token) =>
            new(entries[0].Term);
    }
}
