namespace AspireCache.Tests.Verification;

public sealed class ApplyTracesTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("aspirecache-traces-").FullName;

    private Dictionary<string, string> Write(params (string Node, string Lines)[] traces)
    {
        var files = new Dictionary<string, string>();
        foreach (var (node, lines) in traces)
        {
            var path = Path.Combine(_directory, node);
            File.WriteAllText(path, lines);
            files[node] = path;
        }

        return files;
    }

    [Fact]
    public void Replicas_that_applied_the_same_entries_agree_even_at_different_progress_and_after_restarts()
    {
        var files = Write(
            ("node1", "1 1 aa\n2 1 bb\n3 2 cc\n"),
            ("node2", "1 1 aa\n2 1 bb\n2 1 bb\n3 2 cc\n4 2 dd\n"), // re-applied after a restart
            ("node3", "1 1 aa\n3 2 snapshot\n4 2 dd\n5 2 ee")); // installed a snapshot; last line cut short

        Assert.Empty(ApplyTraces.Divergences(files));
    }

    [Fact]
    public void An_index_applied_as_different_entries_is_named_with_both_nodes()
    {
        var files = Write(
            ("node1", "1 1 aa\n2 1 bb\n3 2 cc\n"),
            ("node3", "1 1 aa\n2 1 bb\n3 1 ff\n"));

        var divergence = Assert.Single(ApplyTraces.Divergences(files));
        Assert.Equal("index 3: node1 applied term 2 hash cc, node3 applied term 1 hash ff", divergence);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
