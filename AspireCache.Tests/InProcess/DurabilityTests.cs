using System.Buffers.Binary;

namespace AspireCache.Tests.InProcess;

/// <summary>What is acknowledged is durable on a majority before the client hears of it.</summary>
[Collection(InProcessCollection.Name)]
public sealed class DurabilityTests
{
    /// <summary>
    /// The leader flushes an entry before it commits it; a follower's acknowledgement must also
    /// mean "on disk", or a write acknowledged to the client could live durably only on the leader
    /// (DotNext's WAL acknowledges from its mapped pages and flushes in the background). A restart
    /// keeps exactly what the WAL checkpoint records, so that is what is checked, right after each
    /// acknowledgement. With either WAL memory strategy (<c>Cluster:WalMemory</c>): mapped pages flushed
    /// with <c>msync</c>, or private pages written through with <c>pwrite</c>.
    /// </summary>
    [Theory]
    [InlineData("SharedMemory")]
    [InlineData("PrivateMemory")]
    public async Task Every_acknowledged_write_is_recorded_durable_by_a_follower_before_the_client_is_answered(string walMemory)
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Cluster:WalMemory"] = walMemory });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var followers = Enumerable.Range(0, 3).Where(i => i != leader).ToArray();
        using var client = cluster.Client(leader);
        var misses = new List<string>();

        for (var i = 0; i < 40; i++)
        {
            var response = await client.PutAsync($"/cache/durable/{i}", new StringContent($"v{i}"));
            Assert.True(response.IsSuccessStatusCode, $"write {i}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");

            // At once: the background flusher must not get the time to catch up.
            var durable = followers.Max(f => CheckpointLastIndex(cluster, f));
            var committed = (await cluster.StatusAsync(leader)).CommitIndex; // sequential writes: this write's entry
            if (durable < committed)
            {
                misses.Add($"write {i}: entry {committed}, followers' durable last index {durable}");
            }
        }

        Assert.Empty(misses);

        // The setting took effect: only shared memory maps the page files into the process.
        var walDirectory = Path.Combine(cluster.DataRoot, InProcessCluster.Ids[leader], "wal") + "/";
        var mapped = File.ReadLines("/proc/self/maps").Any(line => line.Contains(walDirectory, StringComparison.Ordinal));
        Assert.Equal(walMemory == "SharedMemory", mapped);
    }

    /// <summary>The last index DotNext's WAL checkpoint (<c>wal/checkpoint</c>: version, commit index, last flushed index) records.</summary>
    private static long CheckpointLastIndex(InProcessCluster cluster, int node)
    {
        var path = Path.Combine(cluster.DataRoot, InProcessCluster.Ids[node], "wal", "checkpoint");
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> bytes = stackalloc byte[20];
        var read = file.Read(bytes);
        Assert.True(read == 20 && BinaryPrimitives.ReadUInt32LittleEndian(bytes) == 1, $"unexpected checkpoint layout ({read} bytes)");
        return BinaryPrimitives.ReadInt64LittleEndian(bytes[12..]);
    }
}
