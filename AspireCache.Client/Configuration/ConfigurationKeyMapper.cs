using System.Text;
using System.Text.Json;

namespace AspireCache.Client.Configuration;

/// <summary>One configuration entry derived from a cache key.</summary>
/// <param name="Key">The configuration path (<c>Db:Timeout</c>).</param>
/// <param name="Value">Its value (null for JSON null and an empty object, "" for an empty array, as the JSON provider does).</param>
/// <param name="Direct">True when the path is the cache key's own path (a plain value), false when it came from flattening a JSON value.</param>
internal readonly record struct MappedEntry(string Key, string? Value, bool Direct);

/// <summary>
/// Cache keys and values → configuration entries (the rules are documented on
/// <see cref="AspireCacheConfigurationProvider"/>).
/// </summary>
internal static class ConfigurationKeyMapper
{
    private static readonly JsonDocumentOptions JsonOptions = new()
    {
        // As Microsoft.Extensions.Configuration.Json reads appsettings.json.
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>The configuration path of a cache key under <paramref name="prefix"/>: the prefix stripped, a leading <c>/</c> dropped, <c>/</c> → <c>:</c>; null if the key is not under it.</summary>
    public static string? PathOf(string prefix, string key)
    {
        if (!key.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var relative = key.AsSpan(prefix.Length);
        if (relative.StartsWith("/"))
        {
            relative = relative[1..];
        }

        return relative.ToString().Replace('/', ':');
    }

    /// <summary>The entries one key contributes (none for a key outside the prefix, or a plain value at the prefix itself).</summary>
    public static MappedEntry[] Map(string prefix, string key, ReadOnlyMemory<byte> value)
    {
        if (PathOf(prefix, key) is not { } path)
        {
            return [];
        }

        if (LooksLikeJsonContainer(value.Span) && TryFlatten(value, path) is { } flattened)
        {
            return flattened;
        }

        // A plain value needs a name: the key equal to the prefix has none.
        return path.Length == 0 ? [] : [new MappedEntry(path, Encoding.UTF8.GetString(value.Span), Direct: true)];
    }

    /// <summary>
    /// The configuration data of a whole state: JSON-derived entries first, then plain values (a
    /// key's own value wins over a value flattened from a parent's JSON); within each kind, cache
    /// keys in ordinal order, the later winning. Paths are case-insensitive, as in all configuration.
    /// </summary>
    public static Dictionary<string, string?> Build(IEnumerable<MappedEntry[]> orderedByKey)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var entries = orderedByKey as ICollection<MappedEntry[]> ?? orderedByKey.ToList();
        foreach (var mapped in entries)
        {
            foreach (var entry in mapped)
            {
                if (!entry.Direct)
                {
                    data[entry.Key] = entry.Value;
                }
            }
        }

        foreach (var mapped in entries)
        {
            foreach (var entry in mapped)
            {
                if (entry.Direct)
                {
                    data[entry.Key] = entry.Value;
                }
            }
        }

        return data;
    }

    /// <summary>Whether two data sets are equal: the same paths (case-insensitively) with ordinally equal values.</summary>
    public static bool SameData(IDictionary<string, string?> a, IDictionary<string, string?> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in b)
        {
            if (!a.TryGetValue(key, out var old) || !string.Equals(old, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static bool LooksLikeJsonContainer(ReadOnlySpan<byte> value)
    {
        // Skip a UTF-8 byte order mark and white space.
        if (value.StartsWith("\uFEFF"u8))
        {
            value = value[3..];
        }

        var trimmed = value.TrimStart(" \t\r\n"u8);
        return trimmed.Length > 0 && trimmed[0] is (byte)'{' or (byte)'[';
    }

    /// <summary>The flattening of Microsoft.Extensions.Configuration.Json's parser, under <paramref name="root"/>; null if the value is not valid JSON.</summary>
    private static MappedEntry[]? TryFlatten(ReadOnlyMemory<byte> value, string root)
    {
        if (value.Span.StartsWith("\uFEFF"u8))
        {
            value = value[3..];
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(value, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }

        using (document)
        {
            var entries = new List<MappedEntry>();
            Visit(document.RootElement, root, entries);
            return [.. entries];
        }
    }

    private static void Visit(JsonElement element, string path, List<MappedEntry> entries)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var emptyObject = true;
                foreach (var property in element.EnumerateObject())
                {
                    emptyObject = false;
                    Visit(property.Value, Combine(path, property.Name), entries);
                }

                if (emptyObject && path.Length > 0)
                {
                    entries.Add(new MappedEntry(path, null, Direct: false));
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    Visit(item, Combine(path, index.ToString(System.Globalization.CultureInfo.InvariantCulture)), entries);
                    index++;
                }

                if (index == 0 && path.Length > 0)
                {
                    // .NET 10: an empty array is an empty string (so that it binds as an empty collection).
                    entries.Add(new MappedEntry(path, "", Direct: false));
                }

                break;
            default:
                // Numbers keep their text, strings are unquoted, true/false → "True"/"False", null stays null (.NET 10).
                if (path.Length > 0)
                {
                    entries.Add(new MappedEntry(path, element.ValueKind == JsonValueKind.Null ? null : element.ToString(), Direct: false));
                }

                break;
        }
    }

    private static string Combine(string path, string name) => path.Length == 0 ? name : path + ":" + name;
}
