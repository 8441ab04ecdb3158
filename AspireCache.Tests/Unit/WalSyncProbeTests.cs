using AspireCache.Bench;

namespace AspireCache.Tests.Unit;

/// <summary>
/// The bench tool's wal-sync mode (bench/wal-sync.sh): each variant makes every round durable on the real disk
/// and reports per-round latency and CPU, and the files it wrote are gone afterwards. The numbers themselves come
/// from bench/ (bench/README.md, session 29), not from here.
/// </summary>
public sealed class WalSyncProbeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("wal-sync-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Parses_its_options()
    {
        var options = BenchOptions.Parse(["--mode", "wal-sync", "--data-dir", _directory, "--rounds", "50", "--entry-bytes", "300", "--passes", "2"]);

        Assert.Equal(BenchMode.WalSync, options.Mode);
        Assert.Equal(_directory, options.DataDirectory);
        Assert.Equal(50, options.Rounds);
        Assert.Equal(300, options.EntryBytes);
        Assert.Equal(2, options.Passes);
        Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--mode", "wal-sync", "--rounds", "0"]));
    }

    [Fact]
    public void Measures_each_variant_on_disk_and_leaves_no_file_behind()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // msync and fdatasync: the mode refuses other systems
        }

        var output = new StringWriter();
        var results = WalSyncProbe.Run(new BenchOptions { DataDirectory = _directory, Rounds = 40, EntryBytes = 5000, Passes = 1 }, output);

        Assert.Equal(["dotnext", "dotnext-pw", "private", "append"], results.Select(r => r.Variant));
        Assert.All(results, r =>
        {
            Assert.Equal(40, r.Rounds);
            Assert.True(r.P50Us > 0 && r.P99Us >= r.P50Us && r.MeanUs > 0, $"{r.Variant}: p50 {r.P50Us}, p99 {r.P99Us}, mean {r.MeanUs}");
            Assert.True(r.CpuUs > 0, $"{r.Variant}: no CPU measured");
        });
        Assert.Contains("variant", output.ToString(), StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }
}
