using AspireCache.Node.Raft;

namespace AspireCache.Tests.InProcess;

/// <summary>The log stays bounded in entries, bytes and files, whatever the value sizes.</summary>
[Collection(InProcessCollection.Name)]
public sealed class LogBoundsTests
{
    [Fact]
    public async Task Large_values_snapshot_by_bytes_and_keep_the_wal_in_few_files()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:SnapshotInterval"] = "100000",
            ["Cluster:SnapshotLogBytes"] = $"{8 * 1024 * 1024}",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var value = new byte[1024 * 1024];
        Random.Shared.NextBytes(value);
        for (var i = 0; i < 24; i++)
        {
            leader = await cluster.PutToLeaderAsync(leader, $"/cache/big/{i}", value); // 1 MiB entries can cost an election here
        }

        // 24 MiB of entries: far below the entry interval, above the byte bound.
        var status = await cluster.StatusAsync(leader);
        Assert.True(status.SnapshotIndex > 0, "a snapshot must have been taken by bytes");

        // DotNext maps one file per WAL page: with 4 KiB pages this would be ~6,000 open files.
        var pages = Directory.GetFiles(Path.Combine(cluster.DataRoot, InProcessCluster.Ids[leader], "wal", "data")).Length;
        Assert.InRange(pages, 1, 16);
    }
}
