using System.ComponentModel.DataAnnotations;

namespace AspireCache.Sample;

/// <summary>The catalog's settings (section <c>Catalog</c>; in the cache: <c>config/catalog/Catalog/…</c>).</summary>
public sealed class CatalogOptions
{
    public const string SectionName = "Catalog";

    /// <summary>Shown on every product page.</summary>
    [Required]
    public string Greeting { get; set; } = "Welcome";

    /// <summary>Products per page of <c>GET /products</c>.</summary>
    [Range(1, 100)]
    public int PageSize { get; set; } = 5;
}
