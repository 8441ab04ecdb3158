using AspireCache.Node.Raft.DotNextShims;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireCache.Tests.Unit;

/// <summary>
/// The durable-append middleware learns how far DotNext's WAL is durable from <see cref="WalFlushProbe"/>,
/// a read of a private field: these tests pin that read to the referenced DotNext version.
/// </summary>
public sealed class WalFlushProbeTests : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aspirecache-probe-tests", Guid.NewGuid().ToString("N"));
    private readonly WriteAheadLog _wal;

    public WalFlushProbeTests()
    {
        var stateMachine = new CacheStateMachine(new DirectoryInfo(Path.Combine(_directory, "snapshots")), 1_000, NullLogger<CacheStateMachine>.Instance);
        _wal = new WriteAheadLog(new WriteAheadLog.Options { Location = Path.Combine(_directory, "wal") }, stateMachine);
    }

    [Fact]
    public async Task The_probe_sees_appended_entries_become_durable_and_recorded_in_the_checkpoint()
    {
        await _wal.InitializeAsync();
        var unflushed = WalFlushProbe.Create();

        long last = 0;
        for (var i = 0; i < 10; i++)
        {
            last = await _wal.AppendAsync(new BinaryLogEntry { Content = new byte[] { 1, 2, 3, (byte)i }, Term = 1 });
        }

        // Every append triggers the background flusher: the probe must pass the last index soon.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (unflushed(_wal) <= last && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        Assert.True(unflushed(_wal) > last, $"unflushed index {unflushed(_wal)}, last appended {last}");

        // "Flushed" means recorded in the checkpoint, which is all a restart keeps
        // (uint32 version, int64 commit index, int64 last durable index).
        var checkpoint = await File.ReadAllBytesAsync(Path.Combine(_directory, "wal", "checkpoint"));
        Assert.True(BitConverter.ToInt64(checkpoint, 12) >= last, $"checkpoint records {BitConverter.ToInt64(checkpoint, 12)}");
    }

    [Fact]
    public async Task A_flush_wakes_the_signal_so_waiters_need_not_poll()
    {
        await _wal.InitializeAsync();
        var next = WalFlushSignal.Next;

        await _wal.AppendAsync(new BinaryLogEntry { Content = new byte[] { 9 }, Term = 1 });

        await next.WaitAsync(TimeSpan.FromSeconds(10)); // throws TimeoutException when no flush was signalled
    }

    [Fact]
    public async Task The_probe_does_not_run_ahead_of_the_log()
    {
        await _wal.InitializeAsync();
        var unflushed = WalFlushProbe.Create();

        Assert.True(unflushed(_wal) <= _wal.LastEntryIndex + 1, $"unflushed {unflushed(_wal)}, last entry {_wal.LastEntryIndex}");
    }

    public async ValueTask DisposeAsync()
    {
        await _wal.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
