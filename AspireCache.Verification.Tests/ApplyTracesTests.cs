namespace AspireCache.Verification.Tests;

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
            ("node1", "1 1 aa 1\n2 1 bb 2\n3 2 cc 2\n"),
            ("node2", "1 1 aa 1\n2 1 bb 2\n2 0 restored 2\n3 2 cc 2\n4 2 dd 3\n"), // restarted from its snapshot at 2
            ("node3", "1 1 aa 1\n3 2 installed 2\n4 2 dd 3\n5 2 e")); // installed a snapshot; last line cut short by kill -9

        Assert.Empty(ApplyTraces.Divergences(files));
    }

    [Fact]
    public void An_index_applied_as_different_entries_is_named_with_both_nodes()
    {
        var files = Write(
            ("node1", "1 1 aa 1\n2 1 bb 2\n3 2 cc 3\n"),
            ("node3", "1 1 aa 1\n2 1 bb 2\n3 1 ff 3\n"));

        var divergence = Assert.Single(ApplyTraces.Divergences(files));
        Assert.Equal("index 3: node1 applied term 2 hash cc, node3 applied term 1 hash ff", divergence);
    }

    [Fact]
    public void The_same_entries_applied_to_different_states_are_named_too()
    {
        var files = Write(
            ("node1", "1 1 aa 1\n2 1 bb 2\n3 2 cc 3\n"),
            ("node2", "2 1 installed 1\n3 2 cc 2\n")); // a snapshot that did not hold what index 2 produced

        Assert.Equal(
            ["index 2: node1 was at revision 2 after applying 2, node2 at revision 1 after the snapshot installed at 2",
             "index 3: node1 was at revision 3 after applying 3, node2 at revision 2 after applying 3"],
            ApplyTraces.Divergences(files));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
