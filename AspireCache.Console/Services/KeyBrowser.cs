using AspireCache.Client;
using AspireCache.Contracts;

namespace AspireCache.Console.Services;

/// <summary>A row of the key browser: a folder (the next path segment, ending in <c>/</c>) or a key.</summary>
/// <param name="Name">What is shown: the folder's or key's path below the current prefix.</param>
/// <param name="Path">The folder's full prefix, or the full key.</param>
/// <param name="Item">The key's listing (version, size, expiry); null for a folder.</param>
public sealed record BrowseRow(string Name, string Path, ListItem? Item)
{
    public bool IsFolder => Item is null;
}

/// <summary>One page of the browser.</summary>
/// <param name="Rows">Folders and keys in key order.</param>
/// <param name="Next">The cursor of the next page (an <c>after</c>), null on the last.</param>
/// <param name="Revision">The cluster revision of the last list call.</param>
/// <param name="Scanned">Keys the page's list calls returned.</param>
/// <param name="ScanLimited">The scan budget ran out before the page was full (a filter that matches little).</param>
public sealed record BrowsePage(IReadOnlyList<BrowseRow> Rows, string? Next, long Revision, int Scanned, bool ScanLimited);

/// <summary>
/// Browsing by prefix through <see cref="IAspireCacheClient.ListPageAsync"/> (keys only, no values).
/// Without a filter the keys below a prefix are grouped by their next <c>/</c> segment: a folder's
/// keys are skipped with the list's <c>after</c> cursor, so a page shows distinct folders and keys
/// however many keys a folder holds. With a filter (case-insensitive "contains" on the path below
/// the prefix) the matching keys are shown flat, scanning at most a bounded number of list pages.
/// </summary>
public static class KeyBrowser
{
    /// <summary>Sorts after every key that starts with a folder (keys are in ordinal UTF-16 order; U+FFFF is the last code unit).</summary>
    private const string PastFolder = "\uffff";

    public static async Task<BrowsePage> PageAsync(
        IAspireCacheClient client,
        string prefix,
        string? after,
        string? filter,
        int pageSize,
        int maxScanPages,
        CancellationToken cancellationToken = default)
    {
        var rows = new List<BrowseRow>(pageSize);
        var cursor = after;
        long revision = 0;
        var scanned = 0;
        var filtering = !string.IsNullOrWhiteSpace(filter);
        for (var call = 0; call < maxScanPages; call++)
        {
            var page = await client.ListPageAsync(prefix, cursor, filtering ? 1000 : pageSize, values: false, cancellationToken: cancellationToken);
            revision = page.Revision;
            scanned += page.Items.Count;
            string? skipFolder = null;
            foreach (var item in page.Items)
            {
                var below = item.Key[prefix.Length..];
                if (filtering)
                {
                    cursor = item.Key;
                    if (below.Contains(filter!.Trim(), StringComparison.OrdinalIgnoreCase))
                    {
                        rows.Add(new BrowseRow(below, item.Key, item));
                    }
                }
                else
                {
                    var slash = below.IndexOf('/');
                    if (slash < 0)
                    {
                        cursor = item.Key;
                        rows.Add(new BrowseRow(below, item.Key, item));
                    }
                    else
                    {
                        var folder = prefix + below[..(slash + 1)];
                        if (folder == skipFolder)
                        {
                            continue;
                        }

                        skipFolder = folder;
                        cursor = folder + PastFolder;
                        rows.Add(new BrowseRow(below[..(slash + 1)], folder, null));
                    }
                }

                if (rows.Count == pageSize)
                {
                    return new BrowsePage(rows, cursor, revision, scanned, ScanLimited: false);
                }
            }

            if (page.Next is null)
            {
                return new BrowsePage(rows, null, revision, scanned, ScanLimited: false);
            }

            // A folder's keys that continue on the next page are skipped by the cursor.
            if (skipFolder is null || cursor is null || string.CompareOrdinal(page.Next, cursor) > 0)
            {
                cursor = page.Next;
            }
        }

        return new BrowsePage(rows, cursor, revision, scanned, ScanLimited: true);
    }

    /// <summary>The breadcrumb of a prefix: ("config/", "config/"), ("orders/", "config/orders/"), …</summary>
    public static IReadOnlyList<(string Name, string Prefix)> Breadcrumb(string prefix)
    {
        var crumbs = new List<(string, string)>();
        var start = 0;
        while (start < prefix.Length)
        {
            var slash = prefix.IndexOf('/', start);
            var end = slash < 0 ? prefix.Length : slash + 1;
            crumbs.Add((prefix[start..end], prefix[..end]));
            start = end;
        }

        return crumbs;
    }
}
