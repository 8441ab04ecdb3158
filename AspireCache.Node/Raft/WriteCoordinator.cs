using System.Diagnostics;
using System.Threading.Channels;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// The write path, start to finish. A validated command is queued on the leader; a single
/// proposer loop takes every command waiting (group commit — bounded by count and bytes, no
/// timer: a batch closes when the previous replication round completes), encodes them as ONE
/// Raft log entry, replicates it to a majority (each fsyncs), and once it is committed and applied
/// in log order hands each caller the result of its own command. A follower refuses (the caller
/// learns who leads); nothing is ever applied except through the log.
/// </summary>
public sealed class WriteCoordinator : IAsyncDisposable
{
    private readonly ClusterView _cluster;
    private readonly TimeProvider _clock;
    private readonly NodeTelemetry _telemetry;
    private readonly ClusterOptions _options;
    private readonly Channel<PendingWrite> _queue;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _proposer;
    private readonly ILogger _logger;

    public WriteCoordinator(ClusterView cluster, TimeProvider clock, NodeTelemetry telemetry, IOptions<ClusterOptions> options, ILogger<WriteCoordinator> logger)
    {
        _logger = logger;
        _cluster = cluster;
        _clock = clock;
        _telemetry = telemetry;
        _options = options.Value;
        _queue = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(_options.MaxPendingWrites)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _proposer = Task.Run(ProposeLoopAsync);
    }

    public async Task<CommandResult> ProposeAsync(CacheCommand command, CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("cache.write");
        if (!_cluster.LeadsLocally)
        {
            throw _cluster.NotLeaderError("No leader is known; an election is in progress or the quorum is lost.");
        }

        var pending = new PendingWrite(command, EstimateBytes(command), activity?.Context ?? default);
        if (!_queue.Writer.TryWrite(pending))
        {
            _telemetry.Rejected("write-queue-full");
            throw new ClusterUnavailableException(UnavailableReason.Overloaded, $"More than {_options.MaxPendingWrites} writes are waiting for the log; retry shortly.");
        }

        try
        {
            var result = await pending.Completion.Task.WaitAsync(_options.WriteTimeout, token);
            activity?.SetTag("cache.revision", result.Revision);
            return result;
        }
        catch (TimeoutException)
        {
            throw new ClusterUnavailableException(UnavailableReason.Timeout, $"The write was not committed within {_options.WriteTimeout.TotalSeconds:0.#} s; it may or may not be applied.");
        }
    }

    /// <summary>
    /// How long the proposer waits, after a round that left no write queued, for a write whose round
    /// would carry the commit to the followers before it announces the commit with an empty round.
    /// </summary>
    internal static readonly TimeSpan AnnounceGrace = TimeSpan.FromMilliseconds(1);

    private async ValueTask<bool> WriteArrivesWithinAsync(ChannelReader<PendingWrite> reader, TimeSpan grace)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        timeout.CancelAfter(grace);
        var arrives = reader.WaitToReadAsync(timeout.Token).AsTask();
        await ((Task)arrives).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // no exception per lone write's grace
        _stopping.Token.ThrowIfCancellationRequested();
        return arrives.IsCompletedSuccessfully && arrives.Result;
    }

    private int _announceRequested;
    private int _announcing;

    /// <summary>Starts a replication round now (one at a time; requests made meanwhile share the next).</summary>
    private void AnnounceCommit()
    {
        Volatile.Write(ref _announceRequested, 1);
        if (Interlocked.CompareExchange(ref _announcing, 1, 0) == 0)
        {
            _ = Task.Run(AnnounceLoopAsync);
        }
    }

    private async Task AnnounceLoopAsync()
    {
        while (true)
        {
            while (Interlocked.Exchange(ref _announceRequested, 0) == 1)
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    timeout.CancelAfter(TimeSpan.FromMilliseconds(_options.LowerElectionTimeoutMs));
                    await _cluster.Raft.ForceReplicationAsync(timeout.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or QuorumUnreachableException)
                {
                    // Deposed, stopping or a slow follower: the heartbeat carries the commit index anyway.
                }
            }

            Volatile.Write(ref _announcing, 0);
            if (Volatile.Read(ref _announceRequested) == 0 || Interlocked.CompareExchange(ref _announcing, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The longest the proposer waits for a <see cref="Gather"/> to end before it proposes what is
    /// queued. A batch's writes reach the queue one right after another (tens of microseconds each;
    /// more on a busy box or a Debug build: a CI run split a 64-write batch at a 2 ms bound), and a
    /// gather must never stall the log for long.
    /// </summary>
    internal static readonly TimeSpan GatherWaitLimit = TimeSpan.FromMilliseconds(10);

    private int _gathering;
    private TaskCompletionSource? _gathered;

    /// <summary>
    /// The writes proposed until the scope is disposed (a write batch's, started one after another) go
    /// into the same log entry as far as it holds them: without it, the proposer, woken by the first,
    /// would take the first few into one entry and leave the rest for the next replication round.
    /// The proposer waits at most <see cref="GatherWaitLimit"/> for a gather to end.
    /// </summary>
    public GatherScope Gather()
    {
        Interlocked.Increment(ref _gathering);
        return new GatherScope(this);
    }

    private void EndGather()
    {
        if (Interlocked.Decrement(ref _gathering) == 0)
        {
            Interlocked.Exchange(ref _gathered, null)?.TrySetResult();
        }
    }

    private async Task WaitForGatherAsync()
    {
        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = Interlocked.CompareExchange(ref _gathered, mine, null) ?? mine;
        if (Volatile.Read(ref _gathering) == 0)
        {
            waiting.TrySetResult(); // it ended before the wait was installed
        }

        try
        {
            await waiting.Task.WaitAsync(GatherWaitLimit, _stopping.Token);
        }
        catch (TimeoutException)
        {
        }
        finally
        {
            Interlocked.CompareExchange(ref _gathered, null, waiting);
        }
    }

    /// <summary>Ends a <see cref="Gather"/>.</summary>
    public readonly struct GatherScope(WriteCoordinator owner) : IDisposable
    {
        public void Dispose() => owner?.EndGather();
    }

    /// <summary>Commits an entry with no commands (every node applies it; used to trigger snapshots).</summary>
    public Task ProposeBarrierAsync(CancellationToken token) => ProposeAsync(new BatchCommand([], []), token);

    private async Task ProposeLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<PendingWrite>();
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                if (Volatile.Read(ref _gathering) > 0 && reader.Count < _options.MaxCommandsPerEntry)
                {
                    await WaitForGatherAsync(); // a batch's writes are still arriving: one entry for all of them
                }

                batch.Clear();
                long bytes = 0;
                while (batch.Count < _options.MaxCommandsPerEntry && bytes < _options.MaxEntryBytes && reader.TryRead(out var next))
                {
                    batch.Add(next);
                    bytes += next.EstimatedBytes;
                }

                await ReplicateAsync(batch, bytes);

                // Followers learn that an entry committed only from the next AppendEntries. With a
                // write queued behind this one, its round carries the news; without, that would be
                // the next heartbeat (up to half the election timeout away), and followers' watch
                // streams and reads would wait for it. So: announce the commit, unless a write comes
                // within AnnounceGrace (a router's next batch, sent when this one's answer reached it),
                // whose round then carries the news without a round of its own.
                if (reader.Count == 0 && !await WriteArrivesWithinAsync(reader, AnnounceGrace))
                {
                    AnnounceCommit();
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }

        while (reader.TryRead(out var abandoned))
        {
            abandoned.Completion.TrySetException(new ClusterUnavailableException(UnavailableReason.NoLeader, "The node is shutting down; nothing was written."));
        }
    }

    private async Task ReplicateAsync(List<PendingWrite> batch, long bytes)
    {
        // A group commit links the span to every caller's; built only when someone records spans.
        ActivityLink[]? links = null;
        if (batch.Count > 1 && NodeTelemetry.Source.HasListeners())
        {
            links = new ActivityLink[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                links[i] = new ActivityLink(batch[i].Caller);
            }
        }

        using var activity = NodeTelemetry.Source.StartActivity("raft.replicate", ActivityKind.Internal, parentContext: batch.Count == 1 ? batch[0].Caller : default, links: links);
        var commands = new CacheCommand[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            commands[i] = batch[i].Command;
        }

        // The leader's clock stamps the entry: apply never consults a replica's own clock.
        var entry = new CommandBatch(_clock.GetUtcNow().ToUnixTimeMilliseconds(), commands);
        // Encoded once into a buffer sized from the estimate, and proposed from there (no copy).
        var payload = new System.Buffers.ArrayBufferWriter<byte>((int)Math.Min(Math.Max(bytes, 256), int.MaxValue));
        CommandCodec.Encode(entry, payload, _options.LogFormatVersion);
        var context = new ProposalContext(commands.Length, activity?.Context ?? default, payload.WrittenMemory);
        activity?.SetTag("raft.term", _cluster.Term);
        activity?.SetTag("raft.batch_size", commands.Length);
        activity?.SetTag("raft.payload_bytes", payload.WrittenCount);

        var started = Stopwatch.GetTimestamp();
        Exception? failure = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_options.WriteTimeout);
            // The entry carries the term this node leads in, never DotNext's current term: the
            // RaftClusterExtensions helper stamps `cluster.Term`, which can already be a newer
            // leader's term while this node is still leader (DotNext updates the term before it
            // retires the leader state). Such an entry forged the new leader's (index, term): a
            // follower then matched it against the new leader's own entry there and applied
            // this proposal instead (apply traces of a process-fault run; see the findings).
            if (!_cluster.TryGetLeadershipTerm(out var term))
            {
                throw new NotLeaderException(); // nothing appended; handled below as "leadership changed"
            }

            await _cluster.Raft.ReplicateAsync(new BinaryLogEntry { Content = payload.WrittenMemory, Term = term, Context = context }, timeout.Token);
            if (!context.Applied)
            {
                failure = new ClusterUnavailableException(UnavailableReason.Timeout, "Leadership changed while the write was replicating; it may or may not be applied.");
            }
        }
        catch (InvalidOperationException ex) when (ex is NotLeaderException || !_cluster.IsLeader)
        {
            // NotLeaderException: leadership was lost. If the entry was appended it may still commit.
            var leader = _cluster.Leader;
            failure = new ClusterUnavailableException(
                LostLeadershipReason(leader),
                "Leadership changed before the write was confirmed; it may or may not be applied.",
                leader);
        }
        catch (OperationCanceledException)
        {
            failure = new ClusterUnavailableException(UnavailableReason.Timeout, $"The write was not committed within {_options.WriteTimeout.TotalSeconds:0.#} s; it may or may not be applied.");
        }
        catch (QuorumUnreachableException)
        {
            // Outcome unknown (the entry may be on a quorum already): never "no-leader", which tells
            // clients and the router that nothing was done.
            failure = new ClusterUnavailableException(UnavailableReason.Timeout, "The quorum is unreachable; the write may or may not be applied.");
        }
        catch (Exception ex)
        {
            // Anything else (the log shutting down, an I/O failure) fails this batch only: the
            // proposer loop must survive, or every later write would wait forever.
            failure = UnexpectedFailure(ex, batch.Count, payload.WrittenCount, _cluster.NodeId, _logger);
        }

        if (failure is not null)
        {
            activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
            foreach (var write in batch)
            {
                write.Completion.TrySetException(failure);
            }

            return;
        }

        _telemetry.Committed(Stopwatch.GetElapsedTime(started).TotalMilliseconds, commands.Length, payload.WrittenCount);
        activity?.SetTag("raft.applied_index", _cluster.AppliedIndex);
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Completion.TrySetResult(context.Results[i]);
        }
    }

    /// <summary>
    /// An unexpected failure while replicating (a WAL I/O error, the log being disposed): logged
    /// with the exception, answered as 503 with the outcome unknown (the entry may have been
    /// appended, and may still commit). The detail says what happened, never the exception's text
    /// (paths, internals): that is in the node's log.
    /// </summary>
    /// <summary>
    /// How a write whose leadership was lost while it replicated is answered: 421 <c>leadership-lost</c>
    /// naming the new leader when one is known, else 503 <c>timeout</c>. Both say "outcome unknown", so
    /// the client retries with the same Idempotency-Key. Never <see cref="UnavailableReason.NoLeader"/>:
    /// that answer means nothing was proposed, and a client that believed it would record a write that
    /// may still commit as not applied (the linearizability checker caught exactly that under kill -9).
    /// </summary>
    internal static UnavailableReason LostLeadershipReason(LeaderInfo leader) =>
        leader.LeaderId is null || leader.IsLocal ? UnavailableReason.Timeout : UnavailableReason.LeadershipLost;

    internal static ClusterUnavailableException UnexpectedFailure(Exception exception, int writes, int payloadBytes, string nodeId, ILogger logger)
    {
        NodeLog.ReplicationFailed(logger, exception, writes, payloadBytes);
        var what = exception switch
        {
            IOException or UnauthorizedAccessException => "the leader's write-ahead log failed to store it (an I/O error)",
            ObjectDisposedException => "the leader's log was shut down while storing it",
            OutOfMemoryException or InsufficientExecutionStackException => "the leader ran out of resources while storing it",
            _ => "the leader failed unexpectedly while replicating it",
        };
        return new ClusterUnavailableException(
            UnavailableReason.Timeout,
            $"The write could not be confirmed: {what}; it may or may not be applied. The error was logged on {nodeId}.");
    }

    /// <summary>
    /// Upper bound on a command's encoded size (<see cref="CommandCodec"/>), used to close a group
    /// commit at <see cref="ClusterOptions.MaxEntryBytes"/>: 3 bytes per UTF-16 char of a key, plus
    /// length prefixes, versions and flags.
    /// </summary>
    internal static long EstimateBytes(CacheCommand command) => 16 + ((command.IdempotencyKey?.Length ?? 0) * 3L) + command switch
    {
        SetCommand set => (set.Key.Length * 3L) + set.Value.Length + 24,
        DeleteCommand delete => (delete.Key.Length * 3L) + 10,
        BatchCommand batch => 8
            + batch.Sets.Sum(s => 10 + (s.Key.Length * 3L) + s.Value.Length)
            + batch.Deletes.Sum(k => 5 + (k.Length * 3L))
            + batch.Conditions.Sum(c => 15 + (c.Key.Length * 3L)),
        RemoveCommand remove => 8 + remove.Keys.Sum(k => 15 + (k.Key.Length * 3L)),
        _ => 0,
    };

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync();
        try
        {
            await _proposer.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }

        _stopping.Dispose();
    }

    private sealed class PendingWrite(CacheCommand command, long estimatedBytes, ActivityContext caller)
    {
        public CacheCommand Command { get; } = command;

        public long EstimatedBytes { get; } = estimatedBytes;

        public ActivityContext Caller { get; } = caller;

        public TaskCompletionSource<CommandResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
