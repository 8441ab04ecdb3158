using System.Globalization;

namespace AspireCache.Tests.Verification;

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
        var seen = new Dictionary<long, (string Entry, string Node)>();
        var found = new List<string>();
        foreach (var (node, path) in traceFiles)
        {
            if (!File.Exists(path))
            {
                continue;
            }

            using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            while (reader.ReadLine() is { } line)
            {
                var parts = line.Split(' ');
                if (parts.Length != 3 || parts[2] == "snapshot" || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                {
                    continue; // a snapshot install, or a line cut short by kill -9
                }

                var entry = $"term {parts[1]} hash {parts[2]}";
                if (!seen.TryGetValue(index, out var first))
                {
                    seen[index] = (entry, node);
                }
                else if (first.Entry != entry && found.Count < limit)
                {
                    found.Add($"index {index}: {first.Node} applied {first.Entry}, {node} applied {entry}");
                }
            }
        }

        return found;
    }
}
