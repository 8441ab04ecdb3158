using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// Who leads, and how to reach them; <c>null</c> fields mean "not known right now". <see cref="LeaderUrl"/>
/// is for clients (its client-facing URL); <see cref="PeerUrl"/> for node-to-node calls (its peer endpoint).
/// </summary>
public readonly record struct LeaderInfo(string? LeaderId, Uri? LeaderUrl, bool IsLocal, Uri? PeerUrl = null);

/// <summary>
/// A read-only window on the local Raft member: role, term, leader (by node id, not Raft
/// endpoint), indexes. Everything above the Raft layer asks this, never DotNext directly.
/// </summary>
public sealed class ClusterView : IDisposable
{
    private readonly IRaftCluster cluster;
    private readonly CacheStateMachine stateMachine;
    private readonly ClusterOptions _options;
    private readonly NodeTelemetry _telemetry;
    private readonly ILogger<ClusterView> _logger;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ClusterView(IRaftCluster cluster, CacheStateMachine stateMachine, IOptions<ClusterOptions> options, NodeTelemetry telemetry, ILogger<ClusterView> logger)
    {
        this.cluster = cluster;
        this.stateMachine = stateMachine;
        _options = options.Value;
        _telemetry = telemetry;
        _logger = logger;
        cluster.LeaderChanged += OnLeaderChanged;
        telemetry.ObserveIndexes(() => CommitIndex, () => AppliedIndex);
    }

    /// <summary>Completes at the next leader change (or loss of the leader); for push notifications.</summary>
    public Task WaitForChangeAsync(CancellationToken token) => NextChange.WaitAsync(token);

    /// <summary>
    /// Completes at the next change (leader, term or role). Take it <em>before</em> looking at the state it
    /// guards, then wait on it: a change between the look and the wait then still wakes the waiter.
    /// </summary>
    public Task NextChange => Volatile.Read(ref _changed).Task;

    /// <summary>The term this node became leader in (0 while another node or nobody leads).</summary>
    private long _leadershipTerm;

    private void OnLeaderChanged(DotNext.Net.Cluster.ICluster sender, DotNext.Net.Cluster.IClusterMember? leader)
    {
        // DotNext raises this inside its state transition (under its transition lock), right after
        // the new leader state is installed: the term read here is the term this node leads in.
        Volatile.Write(ref _leadershipTerm, leader is { IsRemote: false } ? cluster.Term : 0);
        var info = Leader;
        _telemetry.LeaderChanged(info.LeaderId, Term);
        NodeLog.LeaderChanged(_logger, info.LeaderId ?? "(none)", Term, Role);
        SignalChange();
    }

    /// <summary>
    /// Wakes the long-polls (<c>/cluster/watch</c>) when this node's role changes without a leader change:
    /// a new leader becomes ready (<see cref="LeadershipSettler"/>), which callers that route by role wait for.
    /// </summary>
    public void NotifyRoleChanged() => SignalChange();

    /// <summary>Completes <see cref="NextChange"/> and arms the next one.</summary>
    private void SignalChange() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public void Dispose() => cluster.LeaderChanged -= OnLeaderChanged;

    public string NodeId => _options.NodeId;

    public string? Zone => _options.Zone;

    public IRaftCluster Raft => cluster;

    public long Term => cluster.Term;

    public long CommitIndex => cluster.AuditTrail.LastCommittedEntryIndex;

    public long LastIndex => cluster.AuditTrail.LastEntryIndex;

    public long AppliedIndex => stateMachine.Applied.Value;

    /// <summary>Why this node stopped applying the log, or null (see <see cref="CacheStateMachine.Halted"/>).</summary>
    public string? ApplyHalted => stateMachine.Halted;

    /// <summary>Every member's client-facing URL (see <see cref="ClusterOptions.ClientUrls"/>).</summary>
    public IEnumerable<KeyValuePair<string, Uri>> Members => _options.Members.Keys.Select(id => KeyValuePair.Create(id, _options.ClientUrlOf(id)));

    public LeaderInfo Leader
    {
        get
        {
            var leader = cluster.Leader;
            if (leader is null)
            {
                return default;
            }

            if (!leader.IsRemote)
            {
                return new LeaderInfo(_options.NodeId, _options.ClientUrlOf(_options.NodeId), IsLocal: true, _options.SelfUrl);
            }

            var id = IdOf(leader.EndPoint);
            return id is null ? default : new LeaderInfo(id, _options.ClientUrlOf(id), IsLocal: false, _options.Members[id]);
        }
    }

    /// <summary>This node leads and its term's first entry has committed (false once the cluster has stopped).</summary>
    public bool IsLeader => DotNextShims.RaftWire.HoldsLeadership(cluster);

    /// <summary>
    /// The term this node is leader in, while it still is. New entries must carry this term, not
    /// <see cref="Term"/>: when a newer term arrives, DotNext records it before it retires the
    /// leader state, so for a moment the node is still "leader" while <see cref="Term"/> is
    /// already the new leader's — an entry stamped with it would claim that term at an index where
    /// the new leader writes its own entry, and a follower could then match the two (see
    /// <see cref="WriteCoordinator"/>).
    /// </summary>
    public bool TryGetLeadershipTerm(out long term)
    {
        term = Volatile.Read(ref _leadershipTerm);
        return term > 0 && LeadsLocally;
    }

    /// <summary>
    /// This node won its term's election and still leads, ready or not: DotNext's leader state, whose
    /// no-op entry may not be committed yet (<see cref="IsLeader"/> turns true when it is). Writes are
    /// proposed from the election on: DotNext appends them after the no-op, in the leader's term, and they
    /// commit with it (Raft commits an entry of the leader's own term, and everything before it, once a
    /// quorum holds it). A write's conditions are decided at apply time, in log order, so it needs no
    /// readiness; reads do (a read index is a committed index of the leader's term).
    /// </summary>
    public bool LeadsLocally => cluster.Leader is { IsRemote: false };

    public string Role => IsLeader ? "leader" : "follower";

    /// <summary>
    /// The error for "this node cannot act as leader": 421 naming the leader when one is known
    /// elsewhere, otherwise 503 (an election is under way or the quorum is lost).
    /// </summary>
    public ClusterUnavailableException NotLeaderError(string noLeaderDetail)
    {
        var leader = Leader;
        return leader.LeaderId is null || leader.IsLocal
            ? new ClusterUnavailableException(UnavailableReason.NoLeader, noLeaderDetail)
            : new ClusterUnavailableException(UnavailableReason.NotLeader, $"This node is not the leader; {leader.LeaderId} is.", leader);
    }

    /// <summary>Maps a Raft endpoint back to the configured member id.</summary>
    public string? IdOf(System.Net.EndPoint? endPoint)
    {
        var uri = endPoint switch
        {
            UriEndPoint u => u.Uri,
            _ => null,
        };

        if (uri is null)
        {
            return null;
        }

        foreach (var (id, url) in _options.Members)
        {
            if (Uri.Compare(url, uri, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0)
            {
                return id;
            }
        }

        return null;
    }
}
