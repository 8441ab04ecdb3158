using System.Text;

namespace AspireCache.Tests.Unit;

/// <summary>The binary format between the router and the leader for coalesced writes (<see cref="WriteBatchWire"/>).</summary>
public sealed class WriteBatchWireTests
{
    [Fact]
    public void Writes_round_trip_in_order_with_absent_and_empty_headers_kept_apart()
    {
        WriteBatchWire.Write[] writes =
        [
            new(WriteBatchWire.Put, "config/ключ", "?ttl=5m&pin=true", "\"42\"", null, "idem-1", "application/json", "value"u8.ToArray()),
            new(WriteBatchWire.Delete, "a", "", null, "", null, null, default),
            new(WriteBatchWire.Put, "empty", "", "*", "*", "", "", Array.Empty<byte>()),
        ];
        var decoded = new List<WriteBatchWire.Write>();
        Assert.True(WriteBatchWire.TryDecodeRequest(WriteBatchWire.EncodeRequest(writes), 10, decoded));
        Assert.Equal(writes.Length, decoded.Count);
        for (var i = 0; i < writes.Length; i++)
        {
            Assert.Equal(writes[i] with { Body = default }, decoded[i] with { Body = default });
            Assert.Equal(writes[i].Body.ToArray(), decoded[i].Body.ToArray());
        }

        Assert.Null(decoded[1].IfMatch);        // absent
        Assert.Equal("", decoded[1].IfNoneMatch); // present and empty
    }

    [Theory]
    [InlineData(new byte[0])]                                    // no write
    [InlineData(new byte[] { 7, 1, 0, (byte)'a' })]              // unknown method
    [InlineData(new byte[] { 1, 3, 0, (byte)'a' })]              // key length past the end
    [InlineData(new byte[] { 1, 1, 0, 0xC3 })]                   // invalid UTF-8
    [InlineData(new byte[] { 1, 1, 0, (byte)'a', 1, 0, (byte)'x', 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0 })] // a complete write whose query does not start with '?'
    public void A_malformed_request_is_refused(byte[] body) =>
        Assert.False(WriteBatchWire.TryDecodeRequest(body, 10, []));

    [Fact]
    public void The_same_write_with_a_query_that_starts_with_a_question_mark_is_accepted()
    {
        // The control for the last malformed case above: only its query's first byte differs.
        byte[] body = [1, 1, 0, (byte)'a', 1, 0, (byte)'?', 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0];
        var decoded = new List<WriteBatchWire.Write>();
        Assert.True(WriteBatchWire.TryDecodeRequest(body, 10, decoded));
        Assert.Equal(new WriteBatchWire.Write(WriteBatchWire.Put, "a", "?", null, null, null, null, default), decoded[0] with { Body = default });
    }

    [Fact]
    public void A_body_length_past_the_end_and_too_many_writes_are_refused()
    {
        var one = WriteBatchWire.EncodeRequest([new(WriteBatchWire.Put, "k", "", null, null, null, null, "abc"u8.ToArray())]);
        Assert.False(WriteBatchWire.TryDecodeRequest(one.AsMemory(0, one.Length - 1), 10, []));
        var three = WriteBatchWire.EncodeRequest([.. Enumerable.Repeat(new WriteBatchWire.Write(WriteBatchWire.Delete, "k", "", null, null, null, null, default), 3)]);
        Assert.False(WriteBatchWire.TryDecodeRequest(three, 2, []));
    }

    [Fact]
    public void A_write_fits_while_each_string_is_at_most_MaxStringBytes_in_UTF8()
    {
        static WriteBatchWire.Write WithKey(string key) => new(WriteBatchWire.Put, key, "", null, null, null, null, default);
        Assert.True(WriteBatchWire.Fits(WithKey(new string('a', WriteBatchWire.MaxStringBytes))));
        Assert.False(WriteBatchWire.Fits(WithKey(new string('a', WriteBatchWire.MaxStringBytes + 1))));
        Assert.True(WriteBatchWire.Fits(WithKey(new string('€', WriteBatchWire.MaxStringBytes / 3)))); // 3 bytes each
        Assert.False(WriteBatchWire.Fits(WithKey(new string('€', (WriteBatchWire.MaxStringBytes / 3) + 1))));
        Assert.False(WriteBatchWire.Fits(WithKey("k") with { Accept = new string('€', 30_000) }));
    }

    [Fact]
    public void Answers_round_trip_with_their_headers_and_bodies()
    {
        using var output = new MemoryStream();
        WriteBatchWire.WriteAnswer(output, 201, [new("ETag", "\"7\""), new("Location", "/cache/k"), new("Vary", "a"), new("Vary", "b")], "{\"key\":\"k\"}"u8);
        WriteBatchWire.WriteAnswer(output, WriteBatchWire.Skipped, [], default);
        WriteBatchWire.WriteAnswer(output, 204, [], default);
        var answers = new WriteBatchWire.Answer[3];
        Assert.True(WriteBatchWire.TryDecodeResponse(output.ToArray(), 3, answers));
        Assert.Equal(201, answers[0].Status);
        Assert.Equal(["ETag", "Location", "Vary", "Vary"], answers[0].Headers.Select(h => h.Key));
        Assert.Equal("{\"key\":\"k\"}", Encoding.UTF8.GetString(answers[0].Body.Span));
        Assert.Equal(WriteBatchWire.Skipped, answers[1].Status);
        Assert.Equal(204, answers[2].Status);
        Assert.True(answers[2].Body.IsEmpty);

        // Fewer or more answers than writes, or a truncated one, is malformed.
        Assert.False(WriteBatchWire.TryDecodeResponse(output.ToArray(), 4, new WriteBatchWire.Answer[4]));
        Assert.False(WriteBatchWire.TryDecodeResponse(output.ToArray(), 2, new WriteBatchWire.Answer[2]));
        Assert.False(WriteBatchWire.TryDecodeResponse(output.ToArray().AsMemory(0, 10), 1, new WriteBatchWire.Answer[1]));
    }
}
