namespace AspireCache.Node.Api;

/// <summary>Reads a request body up to a limit without buffering more than limit + 1 bytes.</summary>
internal static class RequestBody
{
    /// <returns>The body, or <c>null</c> if it is larger than <paramref name="limit"/>.</returns>
    public static async Task<byte[]?> ReadAsync(HttpRequest request, int limit, CancellationToken token)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        // Usual case: the length is declared, so read straight into the value's own array.
        if (request.ContentLength is { } declared)
        {
            var value = new byte[declared];
            var filled = 0;
            int read;
            while (filled < value.Length && (read = await request.Body.ReadAsync(value.AsMemory(filled), token)) > 0)
            {
                filled += read;
            }

            // Kestrel enforces Content-Length; a short body fails the read above as a bad request.
            return filled == value.Length ? value : value[..filled];
        }

        using var buffer = new MemoryStream(4096);
        var chunk = new byte[Math.Min(81920, limit + 1)];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, token)) > 0)
        {
            if (buffer.Length + n > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }
}
