using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireCache.Node.Diagnostics;

/// <summary>The node's ActivitySource and Meter, both named <c>AspireCache.Node</c>.</summary>
public sealed class NodeTelemetry : IDisposable
{
    public const string Name = "AspireCache.Node";

    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private readonly Histogram<double> _commitLatency;
    private readonly Histogram<double> _readIndexLatency;
    private readonly Counter<long> _proposals;
    private readonly Histogram<int> _entryCommands;
    private readonly Counter<long> _proposalBytes;
    private readonly Counter<long> _staleReads;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _leaderChanges;
    private long _term;

    public NodeTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _commitLatency = _meter.CreateHistogram<double>("aspirecache.write.commit_latency", "ms", "Propose to commit-and-apply on the leader.");
        _readIndexLatency = _meter.CreateHistogram<double>("aspirecache.read.read_index_latency", "ms", "Obtaining a confirmed read index and waiting for it to be applied.");
        _proposals = _meter.CreateCounter<long>("aspirecache.write.proposals", "{proposal}", "Log entries proposed by this node.");
        _entryCommands = _meter.CreateHistogram<int>("aspirecache.write.commands_per_entry", "{command}", "Client commands coalesced into one log entry (group commit).");
        _proposalBytes = _meter.CreateCounter<long>("aspirecache.write.proposal_bytes", "By", "Bytes of log entries proposed.");
        _staleReads = _meter.CreateCounter<long>("aspirecache.read.stale", "{read}", "Reads served without ReadIndex because the caller asked for consistent=false.");
        _leaderChanges = _meter.CreateCounter<long>("aspirecache.raft.leader_changes", "{change}", "Leader changes seen by this node (including loss of the leader).");
        _meter.CreateObservableGauge("aspirecache.raft.term", () => Volatile.Read(ref _term), "{term}", "The Raft term as of the last leader change.");
        _rejected = _meter.CreateCounter<long>("aspirecache.requests.rejected", "{request}", "Requests refused, by reason.");
    }

    public void Committed(double milliseconds, int commands, int bytes)
    {
        _proposals.Add(1);
        _commitLatency.Record(milliseconds);
        _entryCommands.Record(commands);
        _proposalBytes.Add(bytes);
    }

    public void ReadIndexServed(double milliseconds, bool local) =>
        _readIndexLatency.Record(milliseconds, new KeyValuePair<string, object?>("source", local ? "leader" : "follower"));

    public void StaleRead() => _staleReads.Add(1);

    public void LeaderChanged(string? leader, long term)
    {
        _leaderChanges.Add(1, new KeyValuePair<string, object?>("leader", leader ?? "none"));
        Volatile.Write(ref _term, term);
    }

    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();
}
