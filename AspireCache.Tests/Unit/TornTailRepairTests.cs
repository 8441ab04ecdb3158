using AspireCache.Node.Raft.DotNextShims;
using AspireCache.Node.StateMachine;
using DotNext.IO;
using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using AspireCache.Tests.Watch;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A follower killed between a leader's overwrite of its log tail and DotNext's next checkpoint restarts with the old
/// last index and a write position before the rewritten entries' data (<see cref="TornTailRepair"/>). The torn state is
/// made exactly as <c>kill -9</c> leaves it: the real WAL rewrites the tail and flushes its pages, then the checkpoint
/// file from before the rewrite is put back (the mapped pages survive a kill; the checkpoint is written after them).
/// </summary>
public sealed class TornTailRepairTests : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "aspirecache-torn-tests", Guid.NewGuid().ToString("N"));

    private static string CheckpointOf(string directory) => Path.Combine(directory, "wal", "checkpoint");

    [Fact]
    public async Task A_tail_torn_by_a_kill_is_mended_at_start_and_the_rewritten_entries_keep_their_bytes()
    {
        await TearAsync(_directory);
        await using (var wal = await OpenAsync(_directory))
        {
            Assert.Equal(10, wal.LastEntryIndex); // the checkpoint from before the rewrite: entries 8-10 are the old ones

            var repair = await TornTailRepair.RepairAsync(wal, CancellationToken.None);

            Assert.Equal(new TornTailRepair.Repair(6, 7, 10), repair); // the rewritten run, found by where its data lies
            Assert.Equal(7, wal.LastEntryIndex);

            // The next leader's entry: appended after the rewritten ones, not over them.
            await AppendAtAsync(wal, 8, term: 4, 'C');
            Assert.Equal(new string('A', 100), await PayloadAsync(wal, 6));
            Assert.Equal(new string('B', 100), await PayloadAsync(wal, 7));
            Assert.Equal(new string('C', 100), await PayloadAsync(wal, 8));
            Assert.Equal("old-5".PadRight(100, '.'), await PayloadAsync(wal, 5));
            await WaitForCheckpointAsync(_directory, wal, 8);
        }

        // Mended for good: a restart finds a whole log, and the same bytes.
        await using (var wal = await OpenAsync(_directory))
        {
            Assert.Equal(8, wal.LastEntryIndex);
            Assert.Null(await TornTailRepair.RepairAsync(wal, CancellationToken.None));
            Assert.Equal(new string('A', 100), await PayloadAsync(wal, 6));
            Assert.Equal(new string('C', 100), await PayloadAsync(wal, 8));
        }
    }

    /// <summary>
    /// Killed again after the repair wrote its copies but before its checkpoint: the next start finds the same torn
    /// tail (the old checkpoint) and mends it again from intact bytes, because the copies never land on the originals.
    /// </summary>
    [Fact]
    public async Task A_kill_during_the_repair_leaves_a_tail_the_next_start_mends_with_the_same_bytes()
    {
        await TearAsync(_directory);
        var torn = await File.ReadAllBytesAsync(CheckpointOf(_directory));
        await using (var wal = await OpenAsync(_directory))
        {
            var originalsEnd = TornTailRepair.WalInternals.EndOf(wal, 7);
            Assert.NotNull(await TornTailRepair.RepairAsync(wal, CancellationToken.None));

            // Each copy lies after every original, so a kill half way leaves each entry pointing at whole bytes.
            Assert.True(TornTailRepair.WalInternals.EndOf(wal, 6) - 100 >= originalsEnd, "the copy of entry 6 overlaps the originals");
        }

        await File.WriteAllBytesAsync(CheckpointOf(_directory), torn); // as if the repair's checkpoint never came
        await using (var wal = await OpenAsync(_directory))
        {
            Assert.Equal(10, wal.LastEntryIndex);
            Assert.Equal(new TornTailRepair.Repair(6, 7, 10), await TornTailRepair.RepairAsync(wal, CancellationToken.None));
            await AppendAtAsync(wal, 8, term: 4, 'C');
            Assert.Equal(new string('A', 100), await PayloadAsync(wal, 6));
            Assert.Equal(new string('B', 100), await PayloadAsync(wal, 7));
            Assert.Equal(new string('C', 100), await PayloadAsync(wal, 8));
        }
    }

    /// <summary>
    /// A request whose body breaks part way (its leader died mid-stream) rewrites some entries and never triggers the
    /// checkpoint, even across a clean stop; its entries need not carry a newer term than the old ones after them.
    /// </summary>
    [Fact]
    public async Task A_rewrite_cut_off_mid_request_is_mended_whatever_its_terms()
    {
        await using (var wal = await OpenAsync(_directory))
        {
            await AppendOldAsync(wal, tailTerm: 3);
            await WaitForCheckpointAsync(_directory, wal, 10);

            // A leader of term 4 streams its entries 6.. (of term 2, older than this log's 6-10); the stream breaks after two.
            await Assert.ThrowsAsync<IOException>(async () => await wal.AppendAsync(new BreakingProducer([Entry(2, 'A'), Entry(2, 'B')]), 6, skipCommitted: true));
            Assert.Equal(7, wal.LastEntryIndex);
            await AppendAtAsync(wal, 8, term: 4, 'D');
        }

        await using (var reopened = await OpenAsync(_directory))
        {
            Assert.Equal(10, reopened.LastEntryIndex); // the checkpoint never moved
            Assert.Equal(new TornTailRepair.Repair(6, 8, 10), await TornTailRepair.RepairAsync(reopened, CancellationToken.None));
            await AppendAtAsync(reopened, 9, term: 4, 'C');
            Assert.Equal(new string('A', 100), await PayloadAsync(reopened, 6));
            Assert.Equal(new string('D', 100), await PayloadAsync(reopened, 8));
            Assert.Equal(new string('C', 100), await PayloadAsync(reopened, 9));
        }
    }

    /// <summary>
    /// Two rewrites with no checkpoint between (6-8 by a leader of term 3, then 4-5 by one of term 4, which cut the log
    /// at 5): both runs lie past the write position, and the run ends where the later rewrite cut the log.
    /// </summary>
    [Fact]
    public async Task Of_two_rewrites_before_one_checkpoint_the_later_one_is_what_is_kept()
    {
        await TearAsync(_directory, (6, [Entry(3, 'A'), Entry(3, 'B'), Entry(3, 'C')]), (4, [Entry(4, 'D'), Entry(4, 'E')]));
        await using (var wal = await OpenAsync(_directory))
        {
            Assert.Equal(new TornTailRepair.Repair(4, 5, 10), await TornTailRepair.RepairAsync(wal, CancellationToken.None));
            Assert.Equal(5, wal.LastEntryIndex);
            await AppendAtAsync(wal, 6, term: 5, 'F');
            Assert.Equal(new string('D', 100), await PayloadAsync(wal, 4));
            Assert.Equal(new string('E', 100), await PayloadAsync(wal, 5));
            Assert.Equal(new string('F', 100), await PayloadAsync(wal, 6));
        }
    }

    /// <summary>
    /// A new leader's no-op, sent alone, carries no bytes: the rewrite leaves nothing past the write position, and
    /// after the kill the log reads "6 of term 3, then 7-10 of term 2". A later leader holding the old 7-10 would find
    /// its previous entry (10, term 2) matched here and commit them behind the no-op: this node would apply the no-op
    /// in place of that leader's entry 6. The falling term gives the rewrite away; the log is cut after the no-op.
    /// </summary>
    [Fact]
    public async Task A_rewrite_of_only_a_no_op_is_found_by_its_falling_term_and_the_old_entries_after_it_are_dropped()
    {
        await TearAsync(_directory, (6, [Empty(3)]));
        await using (var wal = await OpenAsync(_directory))
        {
            Assert.Equal(10, wal.LastEntryIndex); // the torn state: the no-op at 6, the old 7-10 after it
            Assert.Equal(new long[] { 3, 2, 2, 2, 2 }, await LogTerms.TermsAsync(wal, 6, 10, CancellationToken.None));

            Assert.Equal(new TornTailRepair.Repair(6, 6, 10), await TornTailRepair.RepairAsync(wal, CancellationToken.None));

            Assert.Equal(6, wal.LastEntryIndex);
            Assert.Equal(3, await LogTerms.TermAtAsync(wal, 6, CancellationToken.None));
            Assert.Equal("old-5".PadRight(100, '.'), await PayloadAsync(wal, 5));
            await WaitForCheckpointAsync(_directory, wal, 6);
        }

        await using (var reopened = await OpenAsync(_directory))
        {
            Assert.Equal(6, reopened.LastEntryIndex);
            Assert.Null(await TornTailRepair.RepairAsync(reopened, CancellationToken.None));
        }
    }

    /// <summary>
    /// The same rewrite of an empty entry, from a request cut off mid-stream: its term need not be newer than the old
    /// entries' after it (5 members: 1-5 of term 2 and a stale 6-10 of term 4 here; a leader of term 5 sends its copy of
    /// term 3's entry 6, empty, and breaks off). No term falls, but the empty entry "ends" at the write position, after
    /// the old entries that follow it.
    /// </summary>
    [Fact]
    public async Task A_rewrite_of_only_an_empty_entry_of_an_older_term_is_found_by_its_falling_data_end()
    {
        await TearAsync(_directory, oldTailTerm: 4, (6, [Empty(3)]));
        await using var wal = await OpenAsync(_directory);
        Assert.Equal(new long[] { 2, 3, 4, 4, 4, 4 }, await LogTerms.TermsAsync(wal, 5, 10, CancellationToken.None)); // no fall

        Assert.Equal(new TornTailRepair.Repair(6, 6, 10), await TornTailRepair.RepairAsync(wal, CancellationToken.None));

        Assert.Equal(6, wal.LastEntryIndex);
        Assert.Equal(3, await LogTerms.TermAtAsync(wal, 6, CancellationToken.None));
    }

    /// <summary>
    /// The defect itself, in DotNext 6.12's WAL: without the repair, the next append after such a restart writes over
    /// the bytes of an entry the cluster may have committed. Fails once DotNext keeps its write position; then the repair can go.
    /// </summary>
    [Fact]
    public async Task Without_the_repair_DotNexts_next_append_overwrites_a_rewritten_entry()
    {
        await TearAsync(_directory);
        await using var wal = await OpenAsync(_directory);

        await AppendAtAsync(wal, 8, term: 4, 'C');

        Assert.Equal(new string('C', 100), await PayloadAsync(wal, 6)); // entry 6 (term 3) now reads entry 8's bytes
    }

    [Fact]
    public async Task A_whole_log_is_left_as_it_is()
    {
        await using (var wal = await OpenAsync(_directory))
        {
            await AppendOldAsync(wal);
            await AppendAtAsync(wal, 6, term: 3, 'A');
            await WaitForCheckpointAsync(_directory, wal, 6);
        }

        await using (var reopened = await OpenAsync(_directory))
        {
            Assert.Equal(6, reopened.LastEntryIndex);
            Assert.Null(await TornTailRepair.RepairAsync(reopened, CancellationToken.None));
            Assert.Equal(6, reopened.LastEntryIndex);
        }
    }

    /// <summary>
    /// Entries 1-10 of term 2, durable; then a leader of term 3 rewrites 6 and 7 (the follower's log ends at 7);
    /// then the checkpoint from before the rewrite is put back, as a kill before the flusher's checkpoint leaves it.
    /// </summary>
    internal static Task TearAsync(string directory) => TearAsync(directory, (6, [Entry(3, 'A'), Entry(3, 'B')]));

    /// <summary>Entries 1-10 of term 2, durable; then <paramref name="rewrites"/> (each from its index on), flushed; then the checkpoint from before them.</summary>
    private static Task TearAsync(string directory, params (long Index, BinaryLogEntry[] Entries)[] rewrites) => TearAsync(directory, oldTailTerm: 2, rewrites);

    /// <summary>As above, with the old entries 6-10 of <paramref name="oldTailTerm"/>.</summary>
    private static async Task TearAsync(string directory, long oldTailTerm, params (long Index, BinaryLogEntry[] Entries)[] rewrites)
    {
        byte[] before;
        await using (var wal = await OpenAsync(directory))
        {
            await AppendOldAsync(wal, oldTailTerm);
            await WaitForCheckpointAsync(directory, wal, 10);
            before = await File.ReadAllBytesAsync(CheckpointOf(directory));
            foreach (var (index, entries) in rewrites)
            {
                await wal.AppendAsync(new LogEntryProducer<BinaryLogEntry>(entries), index, skipCommitted: true);
            }

            await WaitForCheckpointAsync(directory, wal, wal.LastEntryIndex);
        }

        await File.WriteAllBytesAsync(CheckpointOf(directory), before);
    }

    /// <summary>Entries 1-10 ("old-1" ...), of term 2, and 6-10 of <paramref name="tailTerm"/>.</summary>
    private static async Task AppendOldAsync(WriteAheadLog wal, long tailTerm = 2)
    {
        for (var i = 1; i <= 10; i++)
        {
            await wal.AppendAsync(new BinaryLogEntry { Term = i <= 5 ? 2 : tailTerm, Content = System.Text.Encoding.ASCII.GetBytes($"old-{i}".PadRight(100, '.')) });
        }
    }

    private static ValueTask AppendAtAsync(WriteAheadLog wal, long index, long term, char fill) =>
        wal.AppendAsync(new LogEntryProducer<BinaryLogEntry>([Entry(term, fill)]), index, skipCommitted: true);

    /// <summary>An entry with no bytes, as a new leader's no-op.</summary>
    private static BinaryLogEntry Empty(long term) => new() { Term = term, Content = ReadOnlyMemory<byte>.Empty };

    private static BinaryLogEntry Entry(long term, char fill) => new() { Term = term, Content = System.Text.Encoding.ASCII.GetBytes(new string(fill, 100)) };

    /// <summary>Until the checkpoint (uint32 version, int64 commit, int64 last index) records <paramref name="lastIndex"/>.</summary>
    private static Task WaitForCheckpointAsync(string directory, WriteAheadLog wal, long lastIndex) =>
        Poll.UntilAsync(
            () => File.ReadAllBytes(CheckpointOf(directory)) is { Length: >= 20 } checkpoint && BitConverter.ToInt64(checkpoint, 12) == lastIndex,
            TimeSpan.FromSeconds(20),
            () => $"the checkpoint never recorded {lastIndex} (log at {wal.LastEntryIndex})");

    /// <summary>The WAL as a node opens it in <paramref name="directory"/> (its data directory): same layout, same page size.</summary>
    private static async Task<WriteAheadLog> OpenAsync(string directory)
    {
        var stateMachine = new CacheStateMachine(new DirectoryInfo(Path.Combine(directory, "snapshots")), 1_000, NullLogger<CacheStateMachine>.Instance);
        var location = Path.Combine(directory, "wal");
        var pageBytes = AspireCache.Node.Storage.WalLayout.ResolvePageBytes(location, new AspireCache.Node.Raft.ClusterOptions().WalPageBytes);
        var wal = new WriteAheadLog(new WriteAheadLog.Options { Location = location, ChunkSize = pageBytes }, stateMachine);
        await wal.InitializeAsync();
        return wal;
    }

    private static ValueTask<string> PayloadAsync(WriteAheadLog wal, long index) =>
        ((IAuditTrail<IRaftLogEntry>)wal).ReadAsync(new PayloadReader(), index, index);

    /// <summary>Entries as an AppendEntries body delivers them, until the connection breaks.</summary>
    private sealed class BreakingProducer(BinaryLogEntry[] entries) : ILogEntryProducer<BinaryLogEntry>
    {
        private int _next = -1;

        public long RemainingCount => entries.Length + 1 - (_next + 1);

        public BinaryLogEntry Current => entries[_next];

        public ValueTask<bool> MoveNextAsync() => ++_next < entries.Length ? new(true) : throw new IOException("the leader's stream broke");

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class PayloadReader : ILogEntryConsumer<IRaftLogEntry, string>
    {
        bool ILogEntryConsumer<IRaftLogEntry, string>.LogEntryMetadataOnly => false;

        async ValueTask<string> ILogEntryConsumer<IRaftLogEntry, string>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token) =>
            System.Text.Encoding.ASCII.GetString(await entries[0].ToByteArrayAsync(token: token));
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
