using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>The answer of the leader's read-index round.</summary>
/// <param name="ReadIndex">An index the leader confirmed with a quorum after the request arrived.</param>
/// <param name="Term">The leader's term.</param>
/// <param name="LeaderId">Who confirmed it.</param>
public sealed record ReadIndexResponse(long ReadIndex, long Term, string LeaderId);

/// <summary>
/// The linearizable read path (ReadIndex, Raft §6.4):
/// <list type="number">
/// <item>The leader takes a read index and confirms it is still leader with a quorum round
/// (DotNext's Strong read barrier), after the read arrived.</item>
/// <item>A follower gets that index by asking the leader (<c>POST /cluster/read-index</c>), which
/// runs the same confirmed round — DotNext's follower-side barrier alone skips the leader's quorum
/// check, so a deposed leader could hand out a stale index.</item>
/// <item>The serving node waits until its own applied index reaches the read index, then reads
/// its local state.</item>
/// </list>
/// Concurrent reads share rounds (<see cref="RoundBatcher{T}"/>), on the leader and on followers.
/// Reads never go through the log.
/// </summary>
public sealed class ReadIndexService
{
    public const string HttpClientName = "raft-read-index";
    public const string ReadIndexPath = "/cluster/read-index";

    /// <summary>Configuration key of the bound on waiting reads (default <see cref="ClusterOptions.MaxReadWaiters"/>).</summary>
    public const string MaxReadWaitersKey = ClusterOptions.SectionName + ":" + nameof(ClusterOptions.MaxReadWaiters);


    private readonly ClusterView _cluster;
    private readonly CacheStateMachine _stateMachine;
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly NodeTelemetry _telemetry;
    private readonly ClusterOptions _options;
    private readonly RoundBatcher<ReadIndexResponse> _leaderRounds;
    private readonly RoundBatcher<ReadIndexResponse> _followerRounds;
    private readonly int _maxWaiting;
    private int _waiting;

    public ReadIndexService(
        ClusterView cluster,
        CacheStateMachine stateMachine,
        IHttpClientFactory httpClientFactory,
        NodeTelemetry telemetry,
        IOptions<ClusterOptions> options)
    {
        _cluster = cluster;
        _stateMachine = stateMachine;
        _httpClientFactory = httpClientFactory;
        _telemetry = telemetry;
        _options = options.Value;
        _maxWaiting = _options.MaxReadWaiters;

        // Only reads that passed the bound below wait on the applied index (cancelled ones leave it).
        _stateMachine.Applied.MaxWaiters = _maxWaiting;
        _leaderRounds = new(ConfirmLeadershipRoundAsync, "raft.read_index.quorum_round");
        _followerRounds = new(AskLeaderRoundAsync, "raft.read_index.ask_leader");
        telemetry.ObserveReadWaiters(() => Waiting, () => _stateMachine.Applied.Waiters);
    }

    /// <summary>Reads waiting now (for a confirmed read index, or for it to be applied here), including followers' read-index requests.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Most reads that may wait at once; beyond, a read is refused at once (503 + Retry-After, <see cref="UnavailableReason.Overloaded"/>).</summary>
    public int MaxWaiting => _maxWaiting;

    /// <summary>Quorum rounds run by this node as leader.</summary>
    public long LeaderRounds => _leaderRounds.Rounds;

    /// <summary>
    /// Returns once the local state reflects every write acknowledged before this call began;
    /// the caller may then read local state linearizably. Throws <see cref="ClusterUnavailableException"/>.
    /// </summary>
    public async Task<long> EnsureLinearizableAsync(CancellationToken token)
    {
        Admit();
        try
        {
            return await EnsureLinearizableCoreAsync(token);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>Counts a waiting read, or refuses it when <see cref="MaxWaiting"/> already wait.</summary>
    private void Admit()
    {
        if (Interlocked.Increment(ref _waiting) > _maxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            _telemetry.Rejected("read-waiters-full");
            throw new ClusterUnavailableException(UnavailableReason.Overloaded, $"More than {_maxWaiting} reads are waiting for a read index; retry shortly.");
        }
    }

    private async Task<long> EnsureLinearizableCoreAsync(CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("raft.read_index");
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.ReadIndexTimeout);
        try
        {
            var local = _cluster.IsLeader;
            ReadIndexResponse confirmed;
            try
            {
                confirmed = local
                    ? await _leaderRounds.JoinAsync(timeout.Token)
                    : await _followerRounds.JoinAsync(timeout.Token);
            }
            catch (ClusterUnavailableException) when (local)
            {
                // Deposed while confirming: ask the new leader like any follower would.
                local = false;
                confirmed = await _followerRounds.JoinAsync(timeout.Token);
            }
            activity?.SetTag("raft.read_index", confirmed.ReadIndex);
            activity?.SetTag("raft.confirmed_by", confirmed.LeaderId);
            activity?.SetTag("raft.role", local ? "leader" : "follower");

            var waitStarted = Stopwatch.GetTimestamp();
            try
            {
                await _stateMachine.Applied.WaitForAsync(confirmed.ReadIndex, timeout.Token);
            }
            catch (ApplyWaitersFullException ex)
            {
                throw new ClusterUnavailableException(UnavailableReason.Overloaded, ex.Message);
            }
            activity?.SetTag("raft.apply_wait_ms", Stopwatch.GetElapsedTime(waitStarted).TotalMilliseconds);
            activity?.SetTag("raft.applied_index", _stateMachine.Applied.Value);
            _telemetry.ReadIndexServed(Stopwatch.GetElapsedTime(started).TotalMilliseconds, local);
            return confirmed.ReadIndex;
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            throw new ClusterUnavailableException(UnavailableReason.Timeout, $"No read index was confirmed within {_options.ReadIndexTimeout.TotalSeconds:0.#} s.");
        }
    }

    /// <summary>Leader side of <c>POST /cluster/read-index</c>: a confirmed index for a follower.</summary>
    public async Task<ReadIndexResponse> ConfirmAsLeaderAsync(CancellationToken token)
    {
        if (!_cluster.IsLeader)
        {
            throw NotLeader();
        }

        Admit();
        try
        {
            return await _leaderRounds.JoinAsync(token);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private async Task<ReadIndexResponse> ConfirmLeadershipRoundAsync(CancellationToken token)
    {
        using var timeout = new CancellationTokenSource(_options.ReadIndexTimeout);
        var term = _cluster.Term;
        try
        {
            // Strong barrier = record the last index, confirm leadership with a quorum round,
            // wait until that index is applied here.
            await _cluster.Raft.ApplyReadBarrierAsync(ReadBarrierType.Strong, timeout.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or QuorumUnreachableException)
        {
            throw NotLeader();
        }

        // Leadership must have held for the whole round, in the term it started in.
        if (!_cluster.IsLeader || _cluster.Term != term)
        {
            throw NotLeader();
        }

        // Applied ≥ the index recorded when the round started: a safe (possibly later) read index.
        return new ReadIndexResponse(_stateMachine.Applied.Value, term, _cluster.NodeId);
    }

    /// <summary>
    /// One follower round: ask whoever leads now for a confirmed read index. During an election
    /// (no leader known, the old leader unreachable or deposed) keep trying until a new leader
    /// answers or <see cref="ClusterOptions.ReadIndexTimeout"/> passes — every attempt starts after
    /// the waiting reads arrived, so any answer is a valid read index for all of them.
    /// </summary>
    private async Task<ReadIndexResponse> AskLeaderRoundAsync(CancellationToken token)
    {
        using var timeout = new CancellationTokenSource(_options.ReadIndexTimeout);
        var client = _httpClientFactory.CreateClient(HttpClientName);
        string? lastFailure = null;
        while (true)
        {
            var leader = _cluster.Leader;
            try
            {
                if (leader.IsLocal)
                {
                    return await _leaderRounds.JoinAsync(timeout.Token);
                }

                if (leader.PeerUrl is not null)
                {
                    using var response = await client.PostAsync(new Uri(leader.PeerUrl, ReadIndexPath), content: null, timeout.Token);
                    if (response.StatusCode == HttpStatusCode.OK
                        && await response.Content.ReadFromJsonAsync<ReadIndexResponse>(timeout.Token) is { } confirmed)
                    {
                        return confirmed;
                    }

                    lastFailure = $"{leader.LeaderId} answered {(int)response.StatusCode}";
                }
            }
            catch (HttpRequestException ex)
            {
                lastFailure = $"{leader.LeaderId} is unreachable: {ex.Message}";
            }
            catch (ClusterUnavailableException ex)
            {
                lastFailure = ex.Message;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                throw NoConfirmation(lastFailure);
            }

            // Wait for the election to move on (or a short beat), then ask again.
            try
            {
                await _cluster.WaitForChangeAsync(timeout.Token).WaitAsync(TimeSpan.FromMilliseconds(50), timeout.Token);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                throw NoConfirmation(lastFailure);
            }
        }
    }

    private ClusterUnavailableException NoConfirmation(string? lastFailure) =>
        new(UnavailableReason.NoLeader, $"No leader confirmed a read index within {_options.ReadIndexTimeout.TotalSeconds:0.#} s{(lastFailure is null ? "" : $" ({lastFailure})")}.");

    private ClusterUnavailableException NotLeader() => _cluster.NotLeaderError("Leadership could not be confirmed by a quorum.");
}
