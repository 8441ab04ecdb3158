namespace AspireCache.Tests.Verification;

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
}
