namespace Aspire.Hosting;

/// <summary>
/// What a service referenced with
/// <see cref="AspireCacheBuilderExtensions.WithReference{TDestination}(ApplicationModel.IResourceBuilder{TDestination}, ApplicationModel.IResourceBuilder{ApplicationModel.AspireCacheResource}, AspireCacheAccess, IEnumerable{string}?, string?)"/>
/// may do with its own credential (the node's scopes). Reads include lists, watches, <c>/cluster/status</c>,
/// <c>/cluster/watch</c> and the hot-key reports; writes include deletes and batches.
/// </summary>
public enum AspireCacheAccess
{
    /// <summary>Scope <c>read</c>: get, list and watch keys (under the credential's prefixes), cluster status.</summary>
    Read,

    /// <summary>Scope <c>write</c> only: put, delete and batch (under the credential's prefixes), no reads.</summary>
    Write,

    /// <summary>Scopes <c>read</c> and <c>write</c>: what a service that owns some keys needs.</summary>
    ReadWrite,

    /// <summary>Scope <c>admin</c> (implies read and write): also <c>/admin/*</c> (step down, snapshots). Rarely right for a service.</summary>
    Admin,
}
