using System.Globalization;

namespace AspireCache.Verification;

/// <summary>
/// Compares the nodes' apply traces (<c>Cluster:ApplyTrace</c>: one <c>index term hash</c> line per
/// applied entry, appended across restarts): replicas must have applied the same entry at every
/// index they both applied. A stronger check than equal final states, and it names the index.
/// </summary>
public static class ApplyTraces
{
    /// <summary>Every disagreement (up to <paramref name="limit"/>), or an empty list when the replicas agree.</summary>
    public static List<string> Divergences(IReadOnlyDictionary<string, string> traceFiles, int limit = 10)
    {
        var entries = new Dictionary<long, (string Entry, string Node)>();
        var revisions = new Dictionary<long, (long Revision, string Node, string How)>();
        var found = new List<string>();
        void Report(string difference)
        {
            if (found.Count < limit)
            {
                found.Add(difference);
            }
        }

        foreach (var (node, path) in traceFiles)
        {
            if (!File.Exists(path))
            {
                continue;
            }

            using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            while (reader.ReadLine() is { } line)
            {
                // "index term hash revision", or "index term installed|restored revision"; a line cut short by kill -9 is skipped.
                var parts = line.Split(' ');
                if (parts.Length != 4
                    || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    || !long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var revision))
                {
                    continue;
                }

                var how = parts[2] is "installed" or "restored" ? $"after the snapshot {parts[2]} at {index}" : $"after applying {index}";
                if (how.StartsWith("after applying", StringComparison.Ordinal))
                {
                    var entry = $"term {parts[1]} hash {parts[2]}";
                    if (!entries.TryGetValue(index, out var first))
                    {
                        entries[index] = (entry, node);
                    }
                    else if (first.Entry != entry)
                    {
                        Report($"index {index}: {first.Node} applied {first.Entry}, {node} applied {entry}");
                    }
                }

                if (!revisions.TryGetValue(index, out var seen))
                {
                    revisions[index] = (revision, node, how);
                }
                else if (seen.Revision != revision)
                {
                    Report($"index {index}: {seen.Node} was at revision {seen.Revision} {seen.How}, {node} at revision {revision} {how}");
                }
            }
        }

        return found;
    }
}
