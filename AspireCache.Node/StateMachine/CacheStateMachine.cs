using System.Buffers;
using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Carries the proposer's waiting slot through the log: DotNext hands the proposing node's
/// <c>LogEntry.Context</c> back to apply, which fills in one result per command.
/// </summary>
public sealed class ProposalContext(int commandCount, ActivityContext parent = default)
{
    public CommandResult[] Results { get; } = new CommandResult[commandCount];

    /// <summary>The proposer's <c>raft.replicate</c> span, so <c>raft.apply</c> joins the write's trace.</summary>
    public ActivityContext Parent { get; } = parent;

    public bool Applied { get; set; }
}

/// <summary>
/// DotNext's view of the cache: decodes committed entries and applies them to <see cref="CacheState"/>
/// in log order, takes a snapshot every <c>snapshotInterval</c> entries so the WAL can be
/// compacted, and restores from the latest snapshot on start. It never looks at HTTP, roles or clocks.
/// </summary>
public sealed class CacheStateMachine : SimpleStateMachine
{
    private readonly long _snapshotInterval;
    private readonly ILogger _logger;
    private readonly NodeTelemetry? _telemetry;
    private long _lastSnapshotIndex;
    private volatile bool _snapshotRequested;

    /// <summary>Constructed by DI (DotNext's <c>UseStateMachine</c>): snapshots go to <c>{data}/snapshots</c>.</summary>
    public CacheStateMachine(Microsoft.Extensions.Options.IOptions<Raft.ClusterOptions> options, ILogger<CacheStateMachine> logger, NodeTelemetry telemetry)
        : this(new DirectoryInfo(Path.Combine(options.Value.ResolveDataDirectory(), "snapshots")), options.Value.SnapshotInterval, logger)
    {
        _telemetry = telemetry;
    }

    public CacheStateMachine(DirectoryInfo location, long snapshotInterval, ILogger<CacheStateMachine> logger)
        : base(EnsureExists(location))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapshotInterval, 1);
        _snapshotInterval = snapshotInterval;
        _logger = logger;
    }

    public CacheState State { get; } = new();

    private static DirectoryInfo EnsureExists(DirectoryInfo location)
    {
        location.Create();
        return location;
    }

    public AppliedIndex Applied { get; } = new();

    /// <summary>After startup restore: remember which index the restored snapshot covers.</summary>
    public void OnRestored()
    {
        var index = ((ISnapshotManager)this).Snapshot?.Index ?? 0;
        Volatile.Write(ref _lastSnapshotIndex, index);
        Applied.Advance(index);
        NodeLog.SnapshotRestored(_logger, index, State.Count);
    }

    /// <summary>Snapshot at the next applied entry regardless of the interval (the "Take snapshot" command).</summary>
    public void RequestSnapshot() => _snapshotRequested = true;

    /// <summary>Index of the last snapshot written or restored.</summary>
    public long LastSnapshotIndex => Volatile.Read(ref _lastSnapshotIndex);

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        if (!entry.IsConfiguration && entry.Length is not 0 && entry.TryGetPayload(out var payload) && payload.Length > 0)
        {
            CommandBatch batch;
            try
            {
                batch = payload.IsSingleSegment
                    ? CommandCodec.Decode(payload.FirstSpan)
                    : CommandCodec.Decode(payload.ToArray());
            }
            catch (CommandFormatException ex)
            {
                // A throwing ApplyAsync breaks DotNext's WAL for good. Every replica decodes the
                // same bytes the same way, so skipping an undecodable entry keeps them identical.
                NodeLog.UndecodableEntry(_logger, entry.Index, ex.Message);
                batch = new CommandBatch(0, []);
            }

            var proposal = entry.Context as ProposalContext;
            using var activity = proposal is null ? null : NodeTelemetry.Source.StartActivity("raft.apply", ActivityKind.Internal, proposal.Parent);
            activity?.SetTag("raft.entry_index", entry.Index);
            activity?.SetTag("raft.entry_term", entry.Term);
            activity?.SetTag("raft.batch_size", batch.Commands.Count);
            var results = State.Apply(batch);
            if (proposal is { } context && results.Length == context.Results.Length)
            {
                results.CopyTo(context.Results, 0);
                context.Applied = true;
            }
        }

        Applied.Advance(entry.Index);
        if (_snapshotRequested)
        {
            _snapshotRequested = false;
            return new(true);
        }

        return new(entry.Index - LastSnapshotIndex >= _snapshotInterval);
    }

    protected override async ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        var view = State.Current;
        var index = Applied.Value;
        // Streamed through a buffered adapter: memory stays bounded however large the state is.
        var sink = new AsyncBinaryWriterStream(writer);
        await using (var output = new BufferedStream(sink, 64 * 1024))
        {
            await CacheState.WriteSnapshotAsync(view, State.Idempotency, output, token);
            await output.FlushAsync(token);
        }

        Volatile.Write(ref _lastSnapshotIndex, index);
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        _telemetry?.SnapshotTaken(elapsed, sink.Length);
        NodeLog.SnapshotTaken(_logger, index, view.Count, sink.Length, elapsed);
    }

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        await using var stream = snapshotFile.OpenRead();
        await State.RestoreSnapshotAsync(stream, token);
    }
}

/// <summary>A write-only stream over DotNext's snapshot writer.</summary>
internal sealed class AsyncBinaryWriterStream(IAsyncBinaryWriter writer) : Stream
{
    private long _position;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _position;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await writer.Invoke(buffer, cancellationToken);
        _position += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
