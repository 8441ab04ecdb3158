using AspireCache.Node.Storage;

namespace AspireCache.Tests.Unit;

public sealed class WalLayoutTests : IDisposable
{
    private readonly string _wal = Path.Combine(Path.GetTempPath(), "aspirecache-wal-layout", Guid.NewGuid().ToString("N"));

    [Fact]
    public void A_new_wal_uses_the_configured_page_size_and_records_it()
    {
        Assert.Equal(1 << 20, WalLayout.ResolvePageBytes(_wal, 1 << 20));
        Assert.Equal(1 << 20, WalLayout.ResolvePageBytes(_wal, 1 << 22)); // recorded size wins over a later setting
    }

    [Fact]
    public void A_wal_written_before_the_marker_keeps_dotnexts_default_page()
    {
        Directory.CreateDirectory(Path.Combine(_wal, "data"));
        File.WriteAllBytes(Path.Combine(_wal, "data", "0"), new byte[4096]);

        Assert.Equal(WalLayout.LegacyPageBytes, WalLayout.ResolvePageBytes(_wal, 1 << 22));
        Assert.Equal(WalLayout.LegacyPageBytes, WalLayout.ResolvePageBytes(_wal, 1 << 22));
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(2048)]
    public void A_page_size_that_is_not_a_power_of_two_of_at_least_4_KiB_is_refused_before_anything_is_written(int pageBytes)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WalLayout.ResolvePageBytes(_wal, pageBytes));
        Assert.False(File.Exists(Path.Combine(_wal, WalLayout.MarkerFile)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_wal))
        {
            Directory.Delete(_wal, recursive: true);
        }
    }
}
