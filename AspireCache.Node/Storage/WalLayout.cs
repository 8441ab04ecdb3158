using System.Globalization;

namespace AspireCache.Node.Storage;

/// <summary>
/// The WAL's data page size is part of its on-disk layout (DotNext locates an entry by address ÷
/// page size), so it is fixed when a WAL is created and recorded next to it; a WAL written before
/// the marker existed used DotNext's default, the 4 KiB OS page.
/// </summary>
public static class WalLayout
{
    public const string MarkerFile = "aspirecache-page-bytes";
    public const int LegacyPageBytes = 4096;

    /// <summary>The page size to open <paramref name="walDirectory"/> with: recorded, legacy, or <paramref name="configured"/> for a new WAL.</summary>
    public static int ResolvePageBytes(string walDirectory, int configured)
    {
        // DotNext locates pages with shifts and masks: only powers of two address correctly.
        if (configured < LegacyPageBytes || !int.IsPow2(configured))
        {
            throw new ArgumentOutOfRangeException(nameof(configured), configured, "Cluster:WalPageBytes must be a power of two of at least 4096.");
        }

        var marker = Path.Combine(walDirectory, MarkerFile);
        if (File.Exists(marker) && int.TryParse(File.ReadAllText(marker).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var recorded) && recorded > 0)
        {
            return recorded;
        }

        var dataPages = Path.Combine(walDirectory, "data");
        var pageBytes = Directory.Exists(dataPages) && Directory.EnumerateFileSystemEntries(dataPages).Any()
            ? LegacyPageBytes
            : configured;
        Directory.CreateDirectory(walDirectory);

        // Durable before DotNext creates its first page: a marker lost to a power failure would
        // make the next start take a new WAL for a legacy one.
        using (var stream = new FileStream(marker, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(pageBytes.ToString(CultureInfo.InvariantCulture)));
            stream.Flush(flushToDisk: true);
        }

        DirectorySync.Flush(walDirectory);
        return pageBytes;
    }
}
