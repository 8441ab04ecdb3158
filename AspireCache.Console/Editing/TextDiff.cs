namespace AspireCache.Console.Editing;

/// <summary>One row of a diff: unchanged, only on the left (removed), only on the right (added), or a left line replaced by a right one.</summary>
public enum DiffKind
{
    Same,
    Removed,
    Added,
    Changed,
}

/// <summary>A row of a side-by-side diff: the left line and the right line (either may be absent).</summary>
public sealed record DiffRow(DiffKind Kind, string? Left, string? Right, int? LeftNumber, int? RightNumber);

/// <summary>A line diff (longest common subsequence), laid out side by side.</summary>
public static class TextDiff
{
    /// <summary>Above this many line pairs the diff is not computed (the page shows both values instead).</summary>
    public const long MaxCells = 4_000_000;

    /// <summary>The rows of the diff from <paramref name="left"/> to <paramref name="right"/>, or null when they are too large to diff.</summary>
    public static IReadOnlyList<DiffRow>? SideBySide(string? left, string? right)
    {
        var a = Lines(left);
        var b = Lines(right);
        if ((long)a.Length * b.Length > MaxCells)
        {
            return null;
        }

        // lcs[i, j] = the length of the longest common subsequence of a[i..] and b[j..].
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var rows = new List<DiffRow>(a.Length + b.Length);
        var removed = new List<int>();
        var added = new List<int>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                Flush(rows, a, b, removed, added);
                rows.Add(new DiffRow(DiffKind.Same, a[x], b[y], x + 1, y + 1));
                x++;
                y++;
            }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                removed.Add(x++);
            }
            else
            {
                added.Add(y++);
            }
        }

        Flush(rows, a, b, removed, added);
        return rows;
    }

    /// <summary>A run of removed and added lines, side by side: the i-th removed line beside the i-th added one.</summary>
    private static void Flush(List<DiffRow> rows, string[] a, string[] b, List<int> removed, List<int> added)
    {
        for (var i = 0; i < Math.Max(removed.Count, added.Count); i++)
        {
            rows.Add((i < removed.Count, i < added.Count) switch
            {
                (true, true) => new DiffRow(DiffKind.Changed, a[removed[i]], b[added[i]], removed[i] + 1, added[i] + 1),
                (true, false) => new DiffRow(DiffKind.Removed, a[removed[i]], null, removed[i] + 1, null),
                _ => new DiffRow(DiffKind.Added, null, b[added[i]], null, added[i] + 1),
            });
        }

        removed.Clear();
        added.Clear();
    }

    /// <summary>Counts of added and removed lines (a changed line counts as both).</summary>
    public static (int Added, int Removed) Summary(IReadOnlyList<DiffRow> rows) =>
        (rows.Count(r => r.Kind is DiffKind.Added or DiffKind.Changed), rows.Count(r => r.Kind is DiffKind.Removed or DiffKind.Changed));

    private static string[] Lines(string? text) => string.IsNullOrEmpty(text) ? [] : text.ReplaceLineEndings("\n").Split('\n');
}
