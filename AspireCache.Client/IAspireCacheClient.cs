using System.Text.Json.Serialization.Metadata;
using AspireCache.Contracts;

namespace AspireCache.Client;

/// <summary>
/// The AspireCache API for .NET: reads, writes, listing and watching, with retries bounded by a
/// deadline and exactly-once writes. Errors are typed (<see cref="AspireCacheException"/> and its
/// subclasses) and never swallowed.
/// </summary>
/// <remarks>
/// Retry rules: a write carries one <c>Idempotency-Key</c> for all its attempts and is retried on
/// 421 (at the leader named by <c>X-AspireCache-Leader-Url</c> when known), on 503 (after
/// <c>Retry-After</c>, capped by <see cref="AspireCacheClientOptions.MaxRetryDelay"/>) and on
/// connection loss, until the call's deadline. A write that may have been applied when the deadline
/// passes ends with <see cref="OutcomeUnknownException"/>. Reads are retried on 503 and connection loss.
/// </remarks>
public interface IAspireCacheClient
{
    /// <summary><c>GET /cache/{key}</c>: the key's value, version and expiry, or <c>null</c> if absent (404) or expired.</summary>
    /// <param name="key">The key (non-empty, at most 512 UTF-8 bytes, <c>/</c> allowed).</param>
    /// <param name="options">Consistency (linearizable by default) and deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<CacheItem?> GetAsync(string key, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary><c>PUT /cache/{key}</c>: writes the value; returns its new version.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value (at most 1 MiB by default, else <see cref="TooLargeException"/>).</param>
    /// <param name="options">TTL, pin, compare-and-set / create-only conditions (else <see cref="PreconditionFailedException"/>), deadline.</param>
    /// <param name="cancellationToken">Cancels the call (a write cancelled in flight may still be applied).</param>
    Task<long> SetAsync(string key, ReadOnlyMemory<byte> value, SetOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary><c>DELETE /cache/{key}</c>: <c>true</c> if deleted, <c>false</c> if the key was absent (404).</summary>
    /// <param name="key">The key.</param>
    /// <param name="ifVersion">Delete only if the key is at this version (else <see cref="PreconditionFailedException"/>).</param>
    /// <param name="options">Deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<bool> DeleteAsync(string key, long? ifVersion = null, CallOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// <c>POST /cache/batch</c>: sets and deletes applied together at one revision (returned), or not at all.
    /// </summary>
    /// <param name="sets">Keys to write.</param>
    /// <param name="deletes">Keys to delete.</param>
    /// <param name="conditions">Key → required version (0 = must be absent, -1 = must exist); any failing → <see cref="PreconditionFailedException"/>.</param>
    /// <param name="options">Deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<long> BatchAsync(
        IReadOnlyDictionary<string, ReadOnlyMemory<byte>>? sets,
        IReadOnlyCollection<string>? deletes = null,
        IReadOnlyDictionary<string, long>? conditions = null,
        CallOptions? options = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// One page of <c>GET /cache?prefix=</c>, in key order: its <see cref="ListResponse.Revision"/> is a
    /// valid watch <c>afterRevision</c> (list-then-watch); <see cref="ListResponse.Next"/> is the
    /// <paramref name="after"/> of the next page, null on the last. Values are base64.
    /// </summary>
    /// <param name="prefix">Key prefix ("" lists every key).</param>
    /// <param name="after">Start after this key (exclusive).</param>
    /// <param name="limit">Page size (1..1000; server default 100).</param>
    /// <param name="values">Whether to return values.</param>
    /// <param name="options">Consistency and deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<ListResponse> ListPageAsync(string prefix, string? after = null, int? limit = null, bool values = true, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Every key under <paramref name="prefix"/>, in key order, page by page (each page is one call with its own deadline and its own revision).</summary>
    /// <param name="prefix">Key prefix.</param>
    /// <param name="pageSize">Keys per page (1..1000).</param>
    /// <param name="options">Consistency and deadline of each page.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    IAsyncEnumerable<CacheItem> ListAsync(string prefix, int pageSize = 100, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// <c>GET /cache/watch</c>: the changes to the watched prefixes and keys, in revision order, each
    /// exactly once, for as long as it is enumerated. Reconnects on its own (with
    /// <c>Last-Event-ID</c>); when the server no longer has the history to resume from (410) it lists
    /// the watched keys again and yields <see cref="WatchEventType.Resync"/>, the listed state as puts
    /// and a progress event, then the changes after that listing: never a silent gap.
    /// </summary>
    /// <param name="request">Prefixes and keys (at least one), resume point, values.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    /// <exception cref="UnavailableException">No stream could be (re)opened for a whole deadline.</exception>
    /// <exception cref="RateLimitedException">The last attempts were refused with 429 (the credential is over a limit) for a whole deadline.</exception>
    IAsyncEnumerable<WatchEvent> WatchAsync(WatchRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a JSON value written by <see cref="SetJsonAsync{T}"/> (or anyone): <c>default</c> if the key is absent.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="typeInfo">Its (source-generated) JSON type info.</param>
    /// <param name="options">Consistency and deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<T?> GetJsonAsync<T>(string key, JsonTypeInfo<T> typeInfo, ReadOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Writes <paramref name="value"/> as UTF-8 JSON; returns the new version.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="typeInfo">Its (source-generated) JSON type info.</param>
    /// <param name="options">TTL, pin, conditions, deadline.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    Task<long> SetJsonAsync<T>(string key, T value, JsonTypeInfo<T> typeInfo, SetOptions? options = null, CancellationToken cancellationToken = default);
}
