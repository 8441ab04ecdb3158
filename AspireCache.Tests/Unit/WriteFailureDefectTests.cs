using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.Unit;

/// <summary>Issue #15: unexpected replication failures are logged and explained; size estimates cover every command.</summary>
public sealed class WriteFailureDefectTests
{
    [Fact]
    public void A_WAL_IO_failure_is_logged_with_the_exception_and_explained_without_internals()
    {
        var logger = new CapturingLogger();
        var io = new IOException("Disk full writing /var/lib/aspirecache/node1/wal/00000042.page");

        var failure = WriteCoordinator.UnexpectedFailure(io, writes: 3, payloadBytes: 1234, nodeId: "node1", logger);

        // Outcome unknown: still the 503 "timeout" answer.
        Assert.Equal(UnavailableReason.Timeout, failure.Reason);
        Assert.Contains("write-ahead log", failure.Message, StringComparison.Ordinal);
        Assert.Contains("I/O error", failure.Message, StringComparison.Ordinal);
        Assert.Contains("may or may not be applied", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("/var/lib", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Disk full", failure.Message, StringComparison.Ordinal);

        var entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Same(io, entry.Exception);
        Assert.Contains("3 writes", entry.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_write_whose_leadership_was_lost_is_answered_outcome_unknown_never_no_leader()
    {
        // No new leader known yet (mid-election), or this node still listed as leader while it steps down.
        Assert.Equal(UnavailableReason.Timeout, WriteCoordinator.LostLeadershipReason(new LeaderInfo(null, null, false)));
        Assert.Equal(UnavailableReason.Timeout, WriteCoordinator.LostLeadershipReason(new LeaderInfo("node1", new Uri("http://node1"), IsLocal: true)));
        // A new leader known: 421 naming it.
        Assert.Equal(UnavailableReason.LeadershipLost, WriteCoordinator.LostLeadershipReason(new LeaderInfo("node2", new Uri("http://node2"), IsLocal: false)));
    }

    public static TheoryData<string> Commands => ["remove", "set", "delete", "batch"];

    [Theory]
    [MemberData(nameof(Commands))]
    public void The_entry_size_estimate_is_never_below_the_encoded_size(string kind)
    {
        var keys = Enumerable.Range(0, 1000).Select(i => $"some/fairly/long/key/name/é/{i:D6}").ToList();
        CacheCommand command = kind switch
        {
            "remove" => new RemoveCommand([.. keys.Select(k => new KeyValuePair<string, long>(k, long.MaxValue))], RemovalReason.Evicted),
            "set" => new SetCommand(keys[0], new byte[100]) { ExpectedVersion = long.MinValue, TtlMs = long.MaxValue, Pinned = true, IdempotencyKey = "idem-é" },
            "delete" => new DeleteCommand(keys[0]) { ExpectedVersion = long.MinValue, IdempotencyKey = "idem" },
            _ => new BatchCommand([.. keys.Take(10).Select(k => new KeyValuePair<string, ReadOnlyMemory<byte>>(k, new byte[10]))], keys.Skip(10).Take(10).ToList())
            {
                Conditions = [.. keys.Skip(20).Take(10).Select(k => new KeyValuePair<string, long>(k, long.MinValue))],
                IdempotencyKey = "idem",
            },
        };

        var encoded = CommandCodec.Encode(new CommandBatch(0, [command])).Length - CommandCodec.Encode(new CommandBatch(0, [])).Length;

        Assert.True(WriteCoordinator.EstimateBytes(command) >= encoded, $"estimate {WriteCoordinator.EstimateBytes(command)} < encoded {encoded}");
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<(LogLevel Level, Exception? Exception, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, exception, formatter(state, exception)));
    }
}
