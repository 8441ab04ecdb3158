using AspireCache.Node.Storage;
using System.Buffers;
using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// DotNext's view of the cache (<see cref="IStateMachine"/>): decodes committed entries and applies
/// them to <see cref="CacheState"/> in log order, restores from the latest snapshot on start, and
/// keeps the log bounded with copy-on-write snapshots.
/// <para>
/// A snapshot captures the immutable <see cref="StateView"/> (and a copy of the idempotency table)
/// on the apply loop — O(1) plus the table copy — and is written to disk on a background task while
/// the apply loop goes on. It is published to DotNext (<see cref="ISnapshotManager.Snapshot"/>, which
/// lets the WAL compact and followers be sent it) only once the file is complete and flushed, and not
/// while the leader brings a follower back (<see cref="SnapshotHold"/>: the compaction would stop writes
/// until the transfer ends). One snapshot is written at a time; a due snapshot waits for the previous one
/// to finish.
/// </para>
/// <para>
/// A snapshot sent by the leader replaces the state and advances the applied index to its index,
/// so the read path (which waits for an applied index) sees it.
/// </para>
/// It never looks at HTTP, roles or clocks.
/// </summary>
public sealed class CacheStateMachine : IStateMachine, IAsyncDisposable
{
    private readonly DirectoryInfo _location;
    private readonly long _snapshotInterval;
    private readonly long _snapshotLogBytes;
    private long _bytesSinceSnapshot; // apply loop only
    private long _lastAttemptIndex; // apply loop only: index of the last snapshot started, restored or installed
    private readonly ILogger _logger;
    private readonly NodeTelemetry? _telemetry;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _publishLock = new();
    private volatile FileSnapshot? _snapshot;
    private Task _writer = Task.CompletedTask; // only the apply loop (and dispose) touches it
    private volatile bool _snapshotRequested;
    private readonly ApplyTrace? _trace;
    private readonly SnapshotHold? _hold;

    /// <summary>Constructed by DI (DotNext's <c>UseStateMachine</c>): snapshots go to <c>{data}/snapshots</c>.</summary>
    public CacheStateMachine(Microsoft.Extensions.Options.IOptions<StateMachineOptions> options, ILogger<CacheStateMachine> logger, NodeTelemetry telemetry, IChangeFeed? changeFeed = null, SnapshotHold? hold = null)
        : this(new DirectoryInfo(Path.Combine(options.Value.DataDirectory, "snapshots")), options.Value.SnapshotInterval, logger, options.Value.SnapshotLogBytes)
    {
        _telemetry = telemetry;
        ChangeFeed = changeFeed;
        _hold = hold;
        State.UseIdempotencyLimits(options.Value.Idempotency);
        if (options.Value.ApplyTrace)
        {
            _trace = new ApplyTrace(Path.Combine(options.Value.DataDirectory, "apply-trace.log"));
        }
    }

    public CacheStateMachine(DirectoryInfo location, long snapshotInterval, ILogger<CacheStateMachine> logger, long snapshotLogBytes = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapshotInterval, 1);
        location.Create();
        if (location.Parent is { } parent)
        {
            DirectorySync.Flush(parent.FullName); // the snapshot directory's own entry survives a power loss too (also after a kill right after creating it)
        }

        _location = location;
        _snapshotInterval = snapshotInterval;
        _snapshotLogBytes = snapshotLogBytes;
        _logger = logger;
    }

    public CacheState State { get; } = new();

    /// <summary>Told every applied entry's changes and every wholesale replacement of the state (watch).</summary>
    public IChangeFeed? ChangeFeed { get; init; }

    private readonly List<Change> _changes = []; // apply loop only: reused for every entry

    public AppliedIndex Applied { get; } = new();

    /// <summary>Index of the latest durable snapshot (written, restored or installed).</summary>
    public long LastSnapshotIndex => _snapshot?.Index ?? 0;

    /// <summary>Test seam: runs on the snapshot task after the view is captured, before the file is written.</summary>
    internal Func<CancellationToken, Task>? BeforeSnapshotWrite { get; set; }

    /// <summary>Snapshot at the next applied entry regardless of the interval (the "Take snapshot" command).</summary>
    public void RequestSnapshot() => _snapshotRequested = true;

    /// <summary>
    /// Restores the state from the latest snapshot on disk. Must run before DotNext's WAL is
    /// created: the WAL starts applying after <see cref="ISnapshotManager.Snapshot"/>'s index.
    /// </summary>
    public async ValueTask RestoreAsync(CancellationToken token = default)
    {
        foreach (var leftover in _location.EnumerateFiles(FileSnapshot.TempMask))
        {
            leftover.Delete(); // a snapshot interrupted by a crash: never published
        }

        if (FileSnapshot.Latest(_location) is { } latest)
        {
            await using (var stream = OpenRead(latest.File))
            {
                await State.RestoreSnapshotAsync(stream, token);
            }

            // Its rename may not be durable yet (a kill between the rename and the directory's fsync): make it so
            // before DotNext is handed it and compacts the log it covers, or a power loss later could take the
            // snapshot and leave the log without those entries (found by review, session 32).
            DirectorySync.Flush(_location.FullName);
            _snapshot = latest;
            _lastAttemptIndex = latest.Index;
            Applied.Advance(latest.Index);
            _trace?.Snapshot(latest.Index, 0, "restored", State.Revision);
        }

        ChangeFeed?.Reset(State.Revision);

        NodeLog.SnapshotRestored(_logger, LastSnapshotIndex, State.Count);
    }

    ISnapshot? ISnapshotManager.Snapshot => _snapshot;

    ValueTask<long> IStateMachine.ApplyAsync(LogEntry entry, CancellationToken token)
    {
        var applied = Applied.Value;
        if (entry.Index <= applied && !IsUnpublishedInstall(entry, applied))
        {
            return new(applied);
        }

        if (entry.IsSnapshot)
        {
            return InstallAsync(entry, token);
        }

        Apply(entry);
        Applied.Advance(entry.Index);
        _bytesSinceSnapshot += entry.Length ?? 0;
        // Counted from the last attempt, so a failing disk is retried once per interval, not per entry.
        if ((_snapshotRequested || entry.Index - _lastAttemptIndex >= _snapshotInterval || _bytesSinceSnapshot >= _snapshotLogBytes) && _writer.IsCompleted)
        {
            _snapshotRequested = false;
            _bytesSinceSnapshot = 0;
            _lastAttemptIndex = entry.Index;
            _writer = WriteSnapshotAsync(State.Current, State.Idempotency.Snapshot(), entry.Index, entry.Term);
        }

        return new(entry.Index);
    }

    /// <summary>Why this node stopped applying (an entry it cannot read), or null while it applies normally.</summary>
    public string? Halted { get; private set; }

    private void Apply(LogEntry entry)
    {
        if (entry.IsConfiguration || entry.Length is 0 || !entry.TryGetPayload(out var payload) || payload.Length == 0)
        {
            _trace?.Entry(entry.Index, entry.Term, default, State.Revision);
            return;
        }

        var traceHash = _trace is null ? 0 : ApplyTrace.Hash(payload);

        CommandBatch batch;
        byte format;
        try
        {
            ReadOnlySpan<byte> bytes = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
            batch = CommandCodec.Decode(bytes);
            format = bytes[0]; // non-empty: Decode refuses an empty payload
        }
        catch (CommandFormatException ex) when (ex.Unreadable)
        {
            // Corrupt on this node's disk, or a format this node does not know (a newer node wrote
            // it): other replicas may apply it, so skipping it would make this one diverge. Stop
            // applying instead (fail-stop): reads here wait and time out (503), health turns
            // Unhealthy, the log itself (and so every acknowledged write) stays intact on a quorum.
            Halted = $"entry {entry.Index} (term {entry.Term}) cannot be applied on this node: {ex.Message}";
            NodeLog.ApplyHalted(_logger, entry.Index, entry.Term, ex.Message);
            throw new InvalidOperationException(Halted, ex);
        }
        catch (CommandFormatException ex)
        {
            // A throwing ApplyAsync breaks DotNext's WAL for good. Every replica decodes the
            // same (checksum-valid) bytes the same way, so skipping an undecodable entry keeps them identical.
            NodeLog.UndecodableEntry(_logger, entry.Index, ex.Message);
            _trace?.Entry(entry.Index, entry.Term, traceHash, State.Revision);
            return;
        }

        _telemetry?.EntryApplied(format);

        // Only this proposal's own entry may answer its callers (see ProposalContext).
        var proposal = entry.Context is ProposalContext candidate && candidate.Matches(payload) ? candidate : null;
        using var activity = proposal is null ? null : NodeTelemetry.Source.StartActivity("raft.apply", ActivityKind.Internal, proposal.Parent);
        activity?.SetTag("raft.entry_index", entry.Index);
        activity?.SetTag("raft.entry_term", entry.Term);
        activity?.SetTag("raft.batch_size", batch.Commands.Count);
        var feed = ChangeFeed;
        var revisionBefore = State.Revision;
        var results = State.Apply(batch, feed is null ? null : _changes);
        if (feed is not null && (_changes.Count > 0 || State.Revision != revisionBefore))
        {
            feed.Applied(_changes, State.Revision);
            _changes.Clear();
        }

        _trace?.Entry(entry.Index, entry.Term, traceHash, State.Revision);
        if (proposal is { } context && results.Length == context.Results.Length)
        {
            results.CopyTo(context.Results, 0);
            context.Applied = true;
        }
    }

    /// <summary>Writes the captured view to a temporary file, flushes it, renames it into place and publishes it.</summary>
    private async Task WriteSnapshotAsync(StateView view, IReadOnlyCollection<(string Key, IdempotencyTable.Record Record)> idempotency, long index, long term)
    {
        await Task.Yield(); // off the apply loop from here on
        var started = Stopwatch.GetTimestamp();
        var temp = FileSnapshot.TempFile(_location, index, term);
        var tempPath = temp.FullName; // MoveTo re-points `temp` at the published file: clean up by path only
        try
        {
            if (BeforeSnapshotWrite is { } hook)
            {
                await hook(_lifetime.Token);
            }

            long bytes;
            await using (var output = OpenWrite(temp))
            {
                await CacheState.WriteSnapshotAsync(view, idempotency, output, _lifetime.Token);
                await output.FlushAsync(_lifetime.Token);
                output.Flush(flushToDisk: true);
                bytes = output.Length;
            }

            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var published = _hold is { } hold
                ? await PublishUnlessHeldAsync(hold, temp, index, term)
                : Publish(temp, index, term);
            if (published)
            {
                _telemetry?.SnapshotTaken(elapsed, bytes);
                NodeLog.SnapshotTaken(_logger, index, view.Count, bytes, elapsed);
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            TryDelete(tempPath);
        }
        catch (Exception ex)
        {
            // A failed snapshot only delays compaction; the log still holds everything.
            TryDelete(tempPath);
            NodeLog.SnapshotFailed(_logger, ex, index);
        }
    }

    /// <summary>
    /// Publishes this node's own snapshot once no catch-up is in flight (<see cref="SnapshotHold"/>): published, it
    /// lets DotNext's WAL compact, and that compaction would stop every write until the transfer ends. The file is
    /// renamed into place (durable, the one a restart restores) first; the hold is checked again right before it
    /// becomes DotNext's, after the rename's flush, so a catch-up that started meanwhile is honoured too.
    /// </summary>
    private async Task<bool> PublishUnlessHeldAsync(SnapshotHold hold, FileInfo temp, long index, long term)
    {
        var placed = Place(temp, index, term);
        if (placed is null)
        {
            return false;
        }

        long heldSince = 0;
        while (hold.IsHeld)
        {
            if (heldSince == 0)
            {
                heldSince = Stopwatch.GetTimestamp();
                _telemetry?.SnapshotHeld();
                NodeLog.SnapshotHeld(_logger, index);
            }

            var released = await hold.WaitAsync(_lifetime.Token);
            NodeLog.SnapshotReleased(_logger, index, Stopwatch.GetElapsedTime(heldSince).TotalMilliseconds, released ? "no catch-up is in flight" : "the hold reached its limit (30 s, or Cluster:CatchUpTransferTimeout if shorter)");
        }

        if (!Expose(placed, index, term))
        {
            return false;
        }

        hold.NotifyPublished();
        return true;
    }

    /// <summary>
    /// The leader's snapshot at <paramref name="applied"/> again, after an install that replaced the state but could not
    /// publish the file (an I/O error at its rename): it is installed again. Skipped as "already applied", it never
    /// became DotNext's snapshot, DotNext's commit index stayed at the older one, and the follower refused every
    /// entry after it while the leader sent the same snapshot round after round, until it took a newer one (found by
    /// review, session 32). Only that case: a follower that applied up to a snapshot's index is not sent it (DotNext
    /// takes snapshots only above its commit index), and at start the restored snapshot is the published one.
    /// </summary>
    private bool IsUnpublishedInstall(LogEntry entry, long applied) =>
        entry.IsSnapshot && entry.Index == applied && entry.Index > LastSnapshotIndex;

    /// <summary>Test seam: runs on an installed snapshot (its index) after the state is replaced, before its file is renamed into place.</summary>
    internal Action<long>? BeforeInstallPlace { get; set; }

    /// <summary>A snapshot sent by the leader: persist it, replace the state, advance the applied index.</summary>
    private async ValueTask<long> InstallAsync(LogEntry entry, CancellationToken token)
    {
        // The flushes below block: never on the caller's thread, which with inline socket completions
        // can be the epoll thread that received the leader's InstallSnapshot.
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        var temp = FileSnapshot.TempFile(_location, entry.Index, entry.Term);
        long bytes;
        try
        {
            await using (var output = OpenWrite(temp))
            {
                await entry.WriteToAsync(output, 64 * 1024, token);
                await output.FlushAsync(token);
                output.Flush(flushToDisk: true);
                bytes = output.Length;
            }

            await using (var input = OpenRead(temp))
            {
                await State.RestoreSnapshotAsync(input, token);
            }
        }
        catch
        {
            TryDelete(temp.FullName); // the state was not touched: RestoreSnapshotAsync swaps only when complete
            throw;
        }

        // The state is now the snapshot's: mark it applied before anything else can fail, so the WAL
        // never re-applies older committed entries on top of it.
        ChangeFeed?.Reset(State.Revision); // before the applied index moves: readers woken by it see the new history
        Applied.Advance(entry.Index);
        _trace?.Snapshot(entry.Index, entry.Term, "installed", State.Revision);
        _lastAttemptIndex = entry.Index;
        _bytesSinceSnapshot = 0;
        var tempPath = temp.FullName; // Place's rename re-points temp at the snapshot's own name
        try
        {
            BeforeInstallPlace?.Invoke(entry.Index);
            Publish(temp, entry.Index, entry.Term);
        }
        catch
        {
            TryDelete(tempPath); // the leader sends it again (see IsUnpublishedInstall): one temporary file at a time
            throw;
        }

        NodeLog.SnapshotInstalled(_logger, entry.Index, State.Count, bytes, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return entry.Index;
    }

    /// <summary>Renames a complete temporary file into place and makes it the current snapshot unless a newer one already is.</summary>
    private bool Publish(FileInfo temp, long index, long term) =>
        Place(temp, index, term) is { } placed && Expose(placed, index, term);

    /// <summary>Renames a complete temporary file into place (durably); null, and the file deleted, if a newer snapshot is current.</summary>
    private string? Place(FileInfo temp, long index, long term)
    {
        lock (_publishLock)
        {
            if (IsOvertaken(index))
            {
                TryDelete(temp.FullName); // e.g. by a snapshot installed from the leader meanwhile
                return null;
            }

            var destination = FileSnapshot.PathOf(_location, index, term);
            temp.MoveTo(destination, overwrite: true);
            DirectorySync.Flush(_location.FullName); // the rename must survive a power loss before the log it covers is deleted
            return destination;
        }
    }

    private bool IsOvertaken(long index) => _snapshot is { } current && current.Index >= index;

    /// <summary>Makes a placed snapshot DotNext's (which lets its WAL compact), unless a newer one is current by now.</summary>
    private bool Expose(string placed, long index, long term)
    {
        lock (_publishLock)
        {
            if (IsOvertaken(index))
            {
                TryDelete(placed);
                return false;
            }

            _snapshot = new FileSnapshot(new FileInfo(placed), index, term);
            return true;
        }
    }

    ValueTask ISnapshotManager.ReclaimGarbageAsync(long watermark, CancellationToken token)
    {
        // DotNext guarantees nobody reads a snapshot older than the watermark any more.
        foreach (var candidate in FileSnapshot.All(_location))
        {
            if (candidate.Index < watermark && candidate.Index < LastSnapshotIndex)
            {
                TryDelete(candidate.File.FullName);
            }
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_lifetime.IsCancellationRequested)
        {
            return;
        }

        await _lifetime.CancelAsync();
        await _writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _trace?.Dispose();
    }

    private static FileStream OpenWrite(FileInfo file) =>
        new(file.FullName, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 64 * 1024, Options = FileOptions.Asynchronous });

    private static FileStream OpenRead(FileInfo file) =>
        new(file.FullName, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, BufferSize = 64 * 1024, Options = FileOptions.Asynchronous | FileOptions.SequentialScan });

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // best effort: a leftover temporary file is deleted at the next start
        }
    }

    /// <summary>A durable snapshot file named <c>{index}-{term}</c> (DotNext's <c>SimpleStateMachine</c> naming, so existing data directories restore).</summary>
    private sealed class FileSnapshot(FileInfo file, long index, long term) : ISnapshot
    {
        public const string TempMask = "*.tmp";

        public FileInfo File { get; } = file;

        public long Index { get; } = index;

        public long Term { get; } = term;

        long? IDataTransferObject.Length => File.Length;

        bool IDataTransferObject.IsReusable => true;

        public static string PathOf(DirectoryInfo location, long index, long term) =>
            Path.Combine(location.FullName, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{index}-{term}"));

        public static FileInfo TempFile(DirectoryInfo location, long index, long term) =>
            new(PathOf(location, index, term) + $".{Guid.NewGuid():N}.tmp");

        public static IEnumerable<FileSnapshot> All(DirectoryInfo location)
        {
            foreach (var file in location.EnumerateFiles("*-*"))
            {
                if (file.Name.Split('-') is [var i, var t]
                    && long.TryParse(i, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
                    && long.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var term))
                {
                    yield return new FileSnapshot(file, index, term);
                }
            }
        }

        public static FileSnapshot? Latest(DirectoryInfo location) => All(location).MaxBy(s => s.Index);

        async ValueTask IDataTransferObject.WriteToAsync<TWriter>(TWriter writer, CancellationToken token)
        {
            await using var stream = OpenRead(File);
            await writer.CopyFromAsync(stream, token: token);
        }
    }
}
