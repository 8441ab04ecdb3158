using System.IO.Compression;

namespace AspireCache.Verification.Tests;

public sealed class HistoryRecorderTests
{
    [Fact]
    public void Dump_writes_every_operation_with_discarded_ones_marked_and_the_write_responses()
    {
        var history = new HistoryRecorder();
        var written = history.BeginWrite(1, "k", "c1-0");
        history.CompleteWrite(written, 1);
        var refused = history.BeginWrite(2, "k", "c2-0");
        history.Discard(refused);
        var read = history.BeginRead(3, "k");
        history.CompleteRead(read, "c1-0", 1);

        var path = history.Dump("test", new Dictionary<string, string> { ["c2-0"] = "k: 421 not-leader" });
        try
        {
            var lines = File.ReadAllLines(path);
            Assert.Equal(3, lines.Length);
            Assert.Contains("\"discarded\":true", lines[1], StringComparison.Ordinal);
            Assert.Contains("421 not-leader", lines[1], StringComparison.Ordinal);
            Assert.Contains("\"discarded\":false", lines[2], StringComparison.Ordinal);
            Assert.Equal(2, history.Snapshot().Count); // the checker never sees the discarded write
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_dumped_history_reads_back_as_the_history_the_checker_was_given(bool gzip)
    {
        var history = new HistoryRecorder();
        history.CompleteWrite(history.BeginWrite(1, "k", "c1-0"), 1);
        history.Discard(history.BeginWrite(2, "k", "c2-0"));
        history.CompleteUnknown(history.BeginCompareAndSet(3, "k", 1, "c3-0"));
        history.CompleteBatch(history.BeginBatch(4, new Dictionary<string, string> { ["k"] = "c4-0", ["j"] = "c4-1" }, ["i"]), 3);
        history.CompleteDelete(history.BeginDelete(5, "j"), found: true, version: 4);
        history.CompleteRead(history.BeginRead(6, "k"), "c4-0", 3);

        var path = history.Dump("roundtrip", new Dictionary<string, string> { ["c2-0"] = "k: 421 not-leader" });
        var read = path;
        try
        {
            if (gzip)
            {
                read = path + ".gz";
                using var source = File.OpenRead(path);
                using var target = new GZipStream(File.Create(read), CompressionLevel.Fastest);
                source.CopyTo(target);
            }

            var lines = HistoryFile.ReadLines(read);
            Assert.Equal(6, lines.Count);
            Assert.True(lines[1].Discarded);
            Assert.Equal("k: 421 not-leader", lines[1].Response);

            // Records compare batch dictionaries by reference: compare renderings, which include every input,
            // output and timestamp.
            Assert.Equal(history.Snapshot().Select(o => o.Describe(0)), HistoryFile.Read(read).Select(o => o.Describe(0)));
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".gz");
        }
    }

    [Fact]
    public void A_resolved_unknown_outcome_becomes_known_and_its_retry_leaves_the_history()
    {
        var history = new HistoryRecorder();
        var write = history.BeginWrite(1, "k", "c1-0");
        history.CompleteUnknown(write);

        var retry = history.BeginRetry(write);
        history.Resolve(write, OpResult.Written(7));
        history.Discard(retry);

        var op = Assert.Single(history.Snapshot());
        Assert.True(op.Known);
        Assert.Equal(7, op.Version);
        Assert.Equal("c1-0", op.Value);
        Assert.Throws<InvalidOperationException>(() => history.Resolve(write, OpResult.Written(8))); // known already
    }

    [Fact]
    public void A_withdrawn_unknown_outcome_leaves_the_history_and_its_retry_takes_its_place()
    {
        var history = new HistoryRecorder();
        var cas = history.BeginCompareAndSet(1, "k", 3, "c1-0");
        history.CompleteUnknown(cas);

        var retry = history.BeginRetry(cas);
        history.Withdraw(cas);
        history.Complete(retry, OpResult.CompareAndSetDone(false, null));

        var op = Assert.Single(history.Snapshot());
        Assert.Equal(OpKind.CompareAndSet, op.Kind);
        Assert.Equal(3, op.ExpectedVersion);
        Assert.Equal(false, op.Success);
        Assert.True(op.Invoke > 0);
    }

    [Fact]
    public void Only_an_unknown_outcome_can_be_resolved_or_withdrawn()
    {
        var history = new HistoryRecorder();
        var pending = history.BeginWrite(1, "k", "a");
        var done = history.BeginWrite(1, "k", "b");
        history.CompleteWrite(done, 2);

        Assert.Throws<InvalidOperationException>(() => history.Resolve(pending, OpResult.Written(1)));
        Assert.Throws<InvalidOperationException>(() => history.Withdraw(done));
    }
}
