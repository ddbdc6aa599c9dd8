// The ERP stand-in: the slice of an SAP S/4HANA (Retail) system the graph reads.
// Field names follow SAP's APIs (API_MATERIAL_STOCK_SRV, sales price conditions) so the
// adapter's queries read like the ones it sends to a real system; docs/erp.md maps them.
namespace erp;

// One row per material, plant, storage location and stock type, as A_MatlStkInAcctMod.
// Material = our SKU, Plant = our location id, Product = the SAP Retail generic article
// (our product id) the material is a variant of.
entity MaterialStock {
  key Material                     : String(40);
  key Plant                        : String(10);
  key StorageLocation              : String(4);
  // '01' unrestricted use (sellable), '02' quality inspection, ...
  key InventoryStockType           : String(2);
      Product                      : String(40);
      MatlWrhsStkQtyInMatlBaseUnit : Decimal(13, 3);
      MaterialBaseUnit             : String(3);
}

// The ERP's customer master. Our customer id is kept in ExternalReference, so conditions
// can be filtered by it without knowing the ERP's customer number.
entity Customer {
  key Customer          : String(10);
      CustomerName      : String(80);
      ExternalReference : String(40);
}

// A customer-specific price condition (condition type PPR0, access Customer/Material),
// valid from ValidFrom to ValidTo inclusive; 9999-12-31 means open-ended.
entity ConditionRecord {
  key ConditionRecord : String(10);
      ConditionType   : String(4);
      Customer        : String(10);
      Material        : String(40);
      Product         : String(40);
      Amount          : Decimal(15, 2);
      Currency        : String(3);
      ValidFrom       : Date;
      ValidTo         : Date;
      to_Customer     : Association to one erp.Customer
                          on to_Customer.Customer = Customer;
}
