//! Static catalogue the generator draws from: license SKUs with Microsoft's published ids,
//! their service plans, and the name pools behind users, groups and tenants.

/// A service plan inside a SKU (`servicePlanInfo`).
pub(crate) struct PlanDef {
    pub name: &'static str,
    pub id: &'static str,
    /// Mailbox-bearing plans decide who appears in the mailbox usage report.
    pub exchange: bool,
}

/// A license SKU as Microsoft publishes it (product names and service plan identifiers).
pub(crate) struct SkuDef {
    pub part_number: &'static str,
    pub sku_id: &'static str,
    pub plans: &'static [PlanDef],
}

const EXCHANGE_S_ENTERPRISE: PlanDef = PlanDef {
    name: "EXCHANGE_S_ENTERPRISE",
    id: "efb87545-963c-4e0d-99df-69c6916d9eb0",
    exchange: true,
};
const EXCHANGE_S_STANDARD: PlanDef = PlanDef {
    name: "EXCHANGE_S_STANDARD",
    id: "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    exchange: true,
};
const SHAREPOINTENTERPRISE: PlanDef = PlanDef {
    name: "SHAREPOINTENTERPRISE",
    id: "5dbe027f-2339-4123-9542-606e4d348a72",
    exchange: false,
};
const SHAREPOINTSTANDARD: PlanDef = PlanDef {
    name: "SHAREPOINTSTANDARD",
    id: "c7699d2e-19aa-44de-8edf-1736da088ca1",
    exchange: false,
};
const TEAMS1: PlanDef = PlanDef {
    name: "TEAMS1",
    id: "57ff2da0-773e-42df-b2af-ffb7a2317929",
    exchange: false,
};
const OFFICESUBSCRIPTION: PlanDef = PlanDef {
    name: "OFFICESUBSCRIPTION",
    id: "43de0ff5-c92c-492b-9116-175376d08c38",
    exchange: false,
};
const MCOSTANDARD: PlanDef = PlanDef {
    name: "MCOSTANDARD",
    id: "0feaeb32-d00e-4d66-bd5a-43b5b83db82c",
    exchange: false,
};
const AAD_PREMIUM: PlanDef = PlanDef {
    name: "AAD_PREMIUM",
    id: "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    exchange: false,
};
const AAD_PREMIUM_P2: PlanDef = PlanDef {
    name: "AAD_PREMIUM_P2",
    id: "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    exchange: false,
};
const INTUNE_A: PlanDef = PlanDef {
    name: "INTUNE_A",
    id: "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
    exchange: false,
};
const MFA_PREMIUM: PlanDef = PlanDef {
    name: "MFA_PREMIUM",
    id: "8a256a2b-b617-496d-b51b-e76466e88db0",
    exchange: false,
};
const BI_AZURE_P2: PlanDef = PlanDef {
    name: "BI_AZURE_P2",
    id: "70d33638-9c74-4d01-bfd3-562de28bd4ba",
    exchange: false,
};
const FLOW_P2_VIRAL: PlanDef = PlanDef {
    name: "FLOW_P2_VIRAL",
    id: "50e68c76-46c6-4674-81f9-75456511b170",
    exchange: false,
};
const VISIO_CLIENT_SUBSCRIPTION: PlanDef = PlanDef {
    name: "VISIO_CLIENT_SUBSCRIPTION",
    id: "663a804f-1c30-4ff0-9915-9db84f0d1cea",
    exchange: false,
};

/// Microsoft 365 E3.
pub(crate) const SPE_E3: SkuDef = SkuDef {
    part_number: "SPE_E3",
    sku_id: "05e9a617-0261-4cee-bb44-138d3ef5d965",
    plans: &[
        EXCHANGE_S_ENTERPRISE,
        SHAREPOINTENTERPRISE,
        TEAMS1,
        OFFICESUBSCRIPTION,
        MCOSTANDARD,
        AAD_PREMIUM,
        INTUNE_A,
        MFA_PREMIUM,
    ],
};
/// Microsoft 365 E5.
pub(crate) const SPE_E5: SkuDef = SkuDef {
    part_number: "SPE_E5",
    sku_id: "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
    plans: &[
        EXCHANGE_S_ENTERPRISE,
        SHAREPOINTENTERPRISE,
        TEAMS1,
        OFFICESUBSCRIPTION,
        MCOSTANDARD,
        AAD_PREMIUM,
        AAD_PREMIUM_P2,
        INTUNE_A,
        MFA_PREMIUM,
        BI_AZURE_P2,
    ],
};
/// Enterprise Mobility + Security E3.
pub(crate) const EMS: SkuDef = SkuDef {
    part_number: "EMS",
    sku_id: "efccb6f7-5641-4e0e-bd10-b4976e1bf68e",
    plans: &[AAD_PREMIUM, INTUNE_A, MFA_PREMIUM],
};
/// Office 365 E3.
pub(crate) const ENTERPRISEPACK: SkuDef = SkuDef {
    part_number: "ENTERPRISEPACK",
    sku_id: "6fd2c87f-b296-42f0-b197-1e91e994b900",
    plans: &[
        EXCHANGE_S_ENTERPRISE,
        SHAREPOINTENTERPRISE,
        TEAMS1,
        OFFICESUBSCRIPTION,
        MCOSTANDARD,
    ],
};
/// Microsoft 365 Business Standard.
pub(crate) const O365_BUSINESS_PREMIUM: SkuDef = SkuDef {
    part_number: "O365_BUSINESS_PREMIUM",
    sku_id: "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    plans: &[
        EXCHANGE_S_STANDARD,
        SHAREPOINTSTANDARD,
        TEAMS1,
        OFFICESUBSCRIPTION,
        MCOSTANDARD,
    ],
};
/// Exchange Online (Plan 1).
pub(crate) const EXCHANGESTANDARD: SkuDef = SkuDef {
    part_number: "EXCHANGESTANDARD",
    sku_id: "4b9405b0-7788-4568-add1-99614e613b69",
    plans: &[EXCHANGE_S_STANDARD],
};
/// Power BI Pro.
pub(crate) const POWER_BI_PRO: SkuDef = SkuDef {
    part_number: "POWER_BI_PRO",
    sku_id: "f8a1db68-be16-40ed-86d5-cb42ce701560",
    plans: &[BI_AZURE_P2],
};
/// Microsoft Power Automate Free.
pub(crate) const FLOW_FREE: SkuDef = SkuDef {
    part_number: "FLOW_FREE",
    sku_id: "f30db892-07e9-47e9-837c-80727f46fd3d",
    plans: &[FLOW_P2_VIRAL],
};
/// Visio Plan 2.
pub(crate) const VISIOCLIENT: SkuDef = SkuDef {
    part_number: "VISIOCLIENT",
    sku_id: "c5928f49-12ba-48f7-ada3-0d743a3601d5",
    plans: &[VISIO_CLIENT_SUBSCRIPTION],
};

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Amara",
    "Ana",
    "Anders",
    "Aiko",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Christie",
    "Dario",
    "Debra",
    "Diego",
    "Elena",
    "Emily",
    "Enrico",
    "Fatima",
    "Felix",
    "Grady",
    "Hana",
    "Henrietta",
    "Ibrahim",
    "Irvin",
    "Isaiah",
    "Jakob",
    "Johanna",
    "Joni",
    "Jonas",
    "Kenji",
    "Lee",
    "Leila",
    "Lidia",
    "Liam",
    "Lynne",
    "Mai",
    "Marta",
    "Megan",
    "Miriam",
    "Nestor",
    "Nadia",
    "Noah",
    "Olga",
    "Omar",
    "Patti",
    "Pradeep",
    "Priya",
    "Rafael",
    "Raul",
    "Sakura",
    "Samir",
    "Sara",
    "Sven",
    "Tariq",
    "Tomas",
    "Uma",
    "Valentina",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zoe",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Adams", "Ahmed", "Alvarez", "Andersen", "Bauer", "Becker", "Brown", "Castillo", "Chen",
    "Cohen", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Gupta", "Hansen", "Hoffmann",
    "Ito", "Jensen", "Johnson", "Kim", "Kowalski", "Larsen", "Lee", "Lopez", "Martin", "Meyer",
    "Moreau", "Muller", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor", "Patel", "Pereira",
    "Petrov", "Rossi", "Sanchez", "Sato", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka",
    "Torres", "Vargas", "Wagner", "Wang", "Weber", "Williams", "Wilson", "Yamamoto", "Zhang",
];

pub(crate) const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Human Resources",
    "Support",
    "Operations",
    "Legal",
    "IT",
    "Research",
];

pub(crate) const JOB_TITLES: &[&str] = &[
    "Account Manager",
    "Analyst",
    "Consultant",
    "Director",
    "Engineer",
    "Specialist",
    "Team Lead",
    "Coordinator",
    "Administrator",
    "Designer",
    "Product Manager",
    "Associate",
];

pub(crate) const OFFICES: &[&str] = &[
    "Seattle", "Redmond", "London", "Berlin", "Paris", "Madrid", "Tokyo", "Sydney", "Toronto",
    "Dublin",
];

pub(crate) const GROUP_TOPICS: &[&str] = &[
    "Project Aurora",
    "Project Falcon",
    "Project Mercury",
    "Project Nimbus",
    "Sales Leads",
    "Marketing Campaigns",
    "Engineering Guild",
    "Finance Reporting",
    "HR Partners",
    "Support Tier 2",
    "Operations Excellence",
    "Legal Reviews",
    "IT Admins",
    "Research Lab",
    "Onboarding Buddies",
    "Security Champions",
    "Data Platform",
    "Customer Success",
    "Brand Design",
    "Leadership Team",
];

pub(crate) const EXTERNAL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "partner.example",
    "vendor.example",
    "yahoo.com",
    "proton.me",
];

/// Tenant names (Microsoft's own fictitious companies) with their domain stem and country.
pub(crate) const COMPANIES: &[(&str, &str, &str)] = &[
    ("Trey Research", "treyresearch", "US"),
    ("Contoso Ltd", "contoso", "US"),
    ("Fabrikam Inc", "fabrikam", "GB"),
    ("Northwind Traders", "northwindtraders", "DE"),
    ("Tailspin Toys", "tailspintoys", "US"),
    ("Woodgrove Bank", "woodgrovebank", "FR"),
    ("Adventure Works", "adventureworks", "ES"),
    ("Litware Inc", "litware", "JP"),
    ("Proseware Inc", "proseware", "AU"),
    ("Alpine Ski House", "alpineskihouse", "CA"),
    ("Coho Winery", "cohowinery", "IE"),
    ("Wide World Importers", "wideworldimporters", "US"),
];

/// Usage locations seen besides the tenant's own country.
pub(crate) const OTHER_COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "IN", "JP", "BR", "CA"];
