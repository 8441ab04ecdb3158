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
            // 1 MiB entries on a loaded 2-core box can cost an election: a 503 (no leader yet) or a 421
            // (not the leader any more) is the answer a client retries, at whichever node leads then.
            for (var attempt = 1; ; attempt++)
            {
                using var client = cluster.Client(leader);
                using var response = await client.PutAsync($"/cache/big/{i}", new ByteArrayContent(value));
                if (response.StatusCode is not (System.Net.HttpStatusCode.ServiceUnavailable or System.Net.HttpStatusCode.MisdirectedRequest) || attempt == 20)
                {
                    response.EnsureSuccessStatusCode();
                    break;
                }

                leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
            }
        }

        // 24 MiB of entries: far below the entry interval, above the byte bound.
        var status = await cluster.StatusAsync(leader);
        Assert.True(status.SnapshotIndex > 0, "a snapshot must have been taken by bytes");

        // DotNext maps one file per WAL page: with 4 KiB pages this would be ~6,000 open files.
        var pages = Directory.GetFiles(Path.Combine(cluster.DataRoot, InProcessCluster.Ids[leader], "wal", "data")).Length;
        Assert.InRange(pages, 1, 16);
    }
}
