using AspireCache.Node.Auth;
using AspireCache.Node.StateMachine;
using AspireCache.Node.Watch;

namespace AspireCache.Tests.Unit;

/// <summary>Credentials (options, lookup, prefixes) and the writer carried by replicated commands.</summary>
public sealed class AuthUnitTests
{
    private const string KeyA = "AAAAaaaa1111BBBBbbbb2222";
    private const string KeyB = "CCCCcccc3333DDDDdddd4444";

    private static AuthOptions Options(params CredentialOptions[] credentials) => new() { Credentials = [.. credentials] };

    private static CredentialOptions Credential(string name, string key, string[] scopes, string[]? prefixes = null) =>
        new() { Name = name, Key = key, Scopes = [.. scopes], Prefixes = [.. prefixes ?? []] };

    [Fact]
    public void Auth_is_enforced_exactly_when_credentials_are_configured_unless_switched_explicitly()
    {
        Assert.False(new AuthOptions().IsEnforced);
        Assert.True(Options(Credential("a", KeyA, ["read"])).IsEnforced);
        Assert.False(new AuthOptions { Enabled = false, Credentials = [Credential("a", KeyA, ["read"])] }.IsEnforced);
        Assert.True(new AuthOptions { Enabled = true }.IsEnforced);
    }

    [Fact]
    public void Invalid_credential_lists_are_refused_at_start_without_naming_any_key()
    {
        var validator = new AuthOptionsValidator();
        Assert.True(validator.Validate(null, Options(Credential("a", KeyA, ["read"]), Credential("a", KeyB, ["read, write"]))).Succeeded);

        string[] Failures(AuthOptions options) => [.. validator.Validate(null, options).Failures!];

        Assert.Contains(Failures(new AuthOptions { Enabled = true }), f => f.Contains("empty", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", "short", ["read"]))), f => f.Contains("Key must be 16", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", KeyA + " x", ["read"]))), f => f.Contains("printable", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", KeyA, ["read"]), Credential("b", KeyA, ["write"]))), f => f.Contains("same as another", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", KeyA, ["rw"]))), f => f.Contains("unknown scope 'rw'", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", KeyA, []))), f => f.Contains("at least one", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("bad name", KeyA, ["read"]))), f => f.Contains("Name must be", StringComparison.Ordinal));
        Assert.Contains(Failures(Options(Credential("a", KeyA, ["read"], [""]))), f => f.Contains("prefix", StringComparison.Ordinal));
        foreach (var failure in Failures(Options(Credential("a", KeyA, ["rw"]), Credential("b", KeyA, ["read"]))))
        {
            Assert.DoesNotContain(KeyA, failure, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_store_finds_a_credential_by_its_key_only_and_admin_implies_every_scope()
    {
        var store = new CredentialStore(Options(
            Credential("ops", KeyA, ["admin"]),
            Credential("app", KeyB, ["read", "write"], ["app/", "shared/"])));

        var ops = store.Authenticate(KeyA);
        Assert.Equal("ops", ops?.Name);
        Assert.True(ops!.Has(Scope.Read) && ops.Has(Scope.Write) && ops.Has(Scope.Admin));
        Assert.True(ops.AllowsKey("anything"));

        var app = store.Authenticate(KeyB)!;
        Assert.False(app.Has(Scope.Admin));
        Assert.True(app.AllowsKey("app/x") && app.AllowsKey("shared/y"));
        Assert.False(app.AllowsKey("ap") || app.AllowsKey("other/app/x"));
        Assert.False(app.AllowsPrefix("") || app.AllowsPrefix("app"));
        Assert.True(app.AllowsPrefix("app/sub/"));
        Assert.Equal("app", app.ToString());

        Assert.Null(store.Authenticate(KeyA.AsSpan(0, KeyA.Length - 1)));
        Assert.Null(store.Authenticate(KeyA + "x"));
        Assert.Null(store.Authenticate(KeyA.ToLowerInvariant()));
        Assert.Null(store.Authenticate(""));
        Assert.Null(store.Authenticate(new string('k', AuthOptions.MaxKeyLength + 1)));
    }

    [Theory]
    [InlineData("Bearer abc", "abc")]
    [InlineData("bearer   abc  ", "abc")]
    [InlineData("Bearer", "")]
    [InlineData("Basic abc", "")]
    [InlineData("Bearerabc", "")]
    [InlineData("", "")]
    public void Bearer_tokens_are_taken_from_the_authorization_header(string header, string token) =>
        Assert.Equal(token, CredentialStore.BearerToken(header).ToString());

    [Fact]
    public void A_writer_round_trips_through_the_log_format_and_does_not_change_the_idempotency_fingerprint()
    {
        CacheCommand[] commands =
        [
            new SetCommand("k", "v"u8.ToArray()) { Writer = "orders", IdempotencyKey = "i1", ExpectedVersion = 3, TtlMs = 5, Pinned = true },
            new DeleteCommand("k") { Writer = "ops" },
            new BatchCommand([new("a", "1"u8.ToArray())], ["b"]) { Writer = "配置-writer", Conditions = [new("a", 0)] },
        ];
        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(42, commands)));
        Assert.Equal(["orders", "ops", "配置-writer"], decoded.Commands.Select(c => c.Writer));
        Assert.Equal("i1", decoded.Commands[0].IdempotencyKey);
        Assert.Equal((3L, 5L, true), ((SetCommand)decoded.Commands[0]).ExpectedVersion is { } e ? (e, ((SetCommand)decoded.Commands[0]).TtlMs, ((SetCommand)decoded.Commands[0]).Pinned) : default);

        foreach (var command in commands)
        {
            Assert.Equal(IdempotencyTable.Fingerprint(command with { Writer = null }), IdempotencyTable.Fingerprint(command));
        }

        // Without a writer the bytes are exactly those of before (old entries and new ones alike).
        var plain = new SetCommand("k", "v"u8.ToArray());
        Assert.Equal(CommandCodec.Encode(new CommandBatch(1, [plain])), CommandCodec.Encode(new CommandBatch(1, [plain with { Writer = null }])));
        Assert.True(CommandCodec.Encode(new CommandBatch(1, [plain with { Writer = "w" }])).Length == CommandCodec.Encode(new CommandBatch(1, [plain])).Length + 2);
    }

    [Fact]
    public void A_removal_with_a_writer_bit_is_refused_as_malformed()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(1, [new RemoveCommand([new("k", 1)], RemovalReason.Expired)]));
        var tagAt = 10; // version byte, timestamp (8), count varint (1)
        Assert.Equal(4, bytes[tagAt]);
        var body = bytes[..tagAt].Concat(new byte[] { 0x14, 1, (byte)'w' }).Concat(bytes[(tagAt + 1)..^CommandCodec.ChecksumBytes]).ToArray();

        // A valid checksum over the forged body: the writer check, not the checksum, refuses it.
        var forged = new byte[body.Length + CommandCodec.ChecksumBytes];
        body.CopyTo(forged, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(forged.AsSpan(body.Length), Crc32C.Hash(body));
        var refused = Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(forged));
        Assert.False(refused.Unreadable);
    }

    [Fact]
    public void Apply_reports_the_writer_with_each_change_and_watch_events_carry_it()
    {
        var state = new CacheState();
        var changes = new List<Change>();
        state.Apply(new CommandBatch(1, [new SetCommand("a", "1"u8.ToArray()) { Writer = "orders" }, new SetCommand("b", "2"u8.ToArray())]), changes);
        state.Apply(new CommandBatch(2, [new BatchCommand([], ["a"]) { Writer = "ops" }, new RemoveCommand([new("b", 2)], RemovalReason.Expired)]), changes);

        Assert.Equal([("a", "orders"), ("b", null), ("a", "ops"), ("b", null)], changes.Select(c => (c.Key, c.Writer)));
        Assert.Contains("\"writer\":\"orders\"", System.Text.Encoding.UTF8.GetString(new WatchEvent(changes[0]).Frame(true)), StringComparison.Ordinal);
        Assert.DoesNotContain("writer", System.Text.Encoding.UTF8.GetString(new WatchEvent(changes[1]).Frame(true)), StringComparison.Ordinal);
        Assert.Contains("\"writer\":\"ops\"", System.Text.Encoding.UTF8.GetString(new WatchEvent(changes[2]).Frame(false)), StringComparison.Ordinal);
    }
}
