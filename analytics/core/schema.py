"""Canonical column names, event types and dtypes: the one place column names live.

Every other module imports names from here instead of spelling strings. Times are UTC.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

__all__ = [
    "ARM",
    "BRAND",
    "CAMPAIGN_ID",
    "CATEGORY",
    "CATEGORY_PATH",
    "CONSENT_EMAIL",
    "CONSENT_SYNONYMS",
    "COUNTRY",
    "EMAIL",
    "EVENTS_SCHEMA",
    "EVENT_TIME",
    "EVENT_TYPE",
    "EXPOSURES_SCHEMA",
    "ITEM_ID",
    "ORDER_ID",
    "PHONE",
    "PRICE",
    "QUANTITY",
    "REVENUE",
    "SENT_TIME",
    "SESSION_ID",
    "SIDE_ID_SYNONYMS",
    "SIGNUP_DATE",
    "USER_FIELD_SYNONYMS",
    "USER_ID",
    "EventType",
    "Shape",
    "empty_events",
]

# --- canonical events -------------------------------------------------------------------------
USER_ID = "user_id"
EVENT_TIME = "event_time"
EVENT_TYPE = "event_type"
ITEM_ID = "item_id"
CATEGORY = "category"
QUANTITY = "quantity"
PRICE = "price"
REVENUE = "revenue"
ORDER_ID = "order_id"
# optional event columns, kept beside the canonical ones under these names
BRAND = "brand"
SESSION_ID = "session_id"
CATEGORY_PATH = "category_path"  # the full path of a dotted or slashed category ("a.b.c")

# --- side tables ------------------------------------------------------------------------------
CAMPAIGN_ID = "campaign_id"
ARM = "arm"
SENT_TIME = "sent_time"
CONSENT_EMAIL = "consent_email"  # True = opted in, False = opted out, null = unknown
EMAIL = "email"
PHONE = "phone"
COUNTRY = "country"
SIGNUP_DATE = "signup_date"


class EventType(StrEnum):
    """The canonical event vocabulary: every event word of a source file maps to one of these."""

    VIEW = "view"
    CART = "cart"
    FAV = "fav"
    PURCHASE = "purchase"
    REFUND = "refund"
    OTHER = "other"


class Shape(StrEnum):
    """The three input shapes: one row per event, per order line, or per customer."""

    EVENTS = "events"
    TRANSACTIONS = "transactions"
    CUSTOMERS = "customers"


EVENT_TYPE_DTYPE = pl.Enum([e.value for e in EventType])
TIME_DTYPE = pl.Datetime("us", "UTC")

EVENTS_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    EVENT_TIME: TIME_DTYPE,
    EVENT_TYPE: EVENT_TYPE_DTYPE,
    ITEM_ID: pl.String(),
    CATEGORY: pl.String(),
    QUANTITY: pl.Float64(),
    PRICE: pl.Float64(),
    REVENUE: pl.Float64(),
    ORDER_ID: pl.String(),
}

EXPOSURES_SCHEMA: dict[str, pl.DataType] = {
    USER_ID: pl.String(),
    CAMPAIGN_ID: pl.String(),
    ARM: pl.String(),
    SENT_TIME: TIME_DTYPE,
}


def empty_events() -> pl.DataFrame:
    """An events frame with the canonical columns and no rows."""
    return pl.DataFrame(schema=EVENTS_SCHEMA)


# --- column-name synonyms for auto-mapping (ingest) -------------------------------------------
# Keys are canonical columns (plus ``item_name``, kept on the items table only); values are
# source names after normalisation (lower case, everything but letters, digits and CJK removed).
ITEM_NAME = "item_name"

# fmt: off
COLUMN_SYNONYMS: dict[str, tuple[str, ...]] = {
    USER_ID: (
        "userid", "user", "customerid", "customer", "custid", "clientid", "client", "memberid",
        "member", "visitorid", "visitor", "buyerid", "buyer", "accountid", "uid", "customerno",
        "customernumber", "shopperid", "用户id", "用户", "用户编号", "客户id", "客户", "客户编号",
        "会员id", "会员", "买家id", "买家", "顾客id", "顾客", "email", "emailaddress",
        "customeremail", "kundennummer", "kundenid", "kunde",
    ),
    EVENT_TIME: (
        "eventtime", "timestamp", "time", "datetime", "date", "ts", "eventdate", "invoicedate",
        "orderdate", "ordertime", "purchasedate", "purchasetime", "transactiondate",
        "transactiontime", "createdat", "bestelldatum", "datum", "时间", "日期", "时间戳",
        "下单时间", "交易时间",
        "行为时间", "订单时间", "购买时间", "发生时间",
    ),
    EVENT_TYPE: (
        "eventtype", "event", "behavior", "behaviortype", "behaviour", "behaviourtype", "action",
        "actiontype", "eventname", "type", "行为类型", "行为", "事件", "事件类型", "类型",
    ),
    ITEM_ID: (
        "itemid", "item", "productid", "product", "sku", "skuid", "stockcode", "articleid",
        "goodsid", "productcode", "itemcode", "asin", "artikelnummer", "artikel", "商品id", "商品",
        "商品编号", "物品id",
        "产品id", "产品", "货号",
    ),
    CATEGORY: (
        "category", "categoryid", "categorycode", "cat", "catid", "productcategory",
        "department", "类目", "类目id", "品类", "分类", "商品类目", "类别", "类别id",
    ),
    QUANTITY: (
        "quantity", "qty", "units", "unitssold", "numberofunits", "numberofitems", "numberofcds",
        "pieces", "count", "menge", "anzahl", "数量", "购买数量", "件数", "商品数量",
    ),
    PRICE: ("price", "unitprice", "itemprice", "productprice", "preis", "单价", "价格", "商品价格",
            "售价"),
    REVENUE: (
        "revenue", "amount", "total", "totalprice", "totalamount", "sales", "dollars",
        "dollarvalue", "ordervalue", "linetotal", "subtotal", "金额", "销售额", "总价", "总金额",
        "实付金额", "订单金额", "支付金额", "消费金额",
    ),
    ORDER_ID: (
        "orderid", "order", "invoiceno", "invoice", "invoiceid", "invoicenumber",
        "transactionid", "orderno", "ordernumber", "receiptid", "basketid", "订单号", "订单id",
        "订单编号", "发票", "发票号", "发票号码", "交易号",
    ),
    ITEM_NAME: (
        "description", "productname", "itemname", "name", "title", "商品名称", "商品名",
        "名称", "品名", "产品名称",
    ),
    BRAND: ("brand", "brandname", "brandid", "make", "manufacturer", "品牌", "品牌名称", "品牌id"),
    SESSION_ID: ("sessionid", "session", "usersession", "visitid", "会话id", "会话"),
    CAMPAIGN_ID: ("campaignid", "campaign", "campaignname", "活动id", "活动", "活动名称"),
    ARM: ("arm", "group", "variant", "treatment", "testgroup", "abgroup", "分组", "组别"),
    SENT_TIME: ("senttime", "sentat", "sentdate", "senddate", "sendtime", "发送时间", "发送日期"),
}

# Raw event-type values (lower case, stripped) and the canonical type each one means.
_EVENT_WORDS: dict[EventType, tuple[str, ...]] = {
    EventType.VIEW: ("pv", "view", "views", "pageview", "page_view", "product_view", "view_item",
                     "detail", "click", "visit", "browse", "浏览", "点击", "查看"),
    EventType.CART: ("cart", "addtocart", "add_to_cart", "add-to-cart", "add to cart", "basket",
                     "add", "加购", "加入购物车", "购物车"),
    EventType.FAV: ("fav", "favorite", "favourite", "wishlist", "like", "collect", "save",
                    "收藏", "关注"),
    EventType.PURCHASE: ("buy", "purchase", "order", "transaction", "checkout", "sale", "paid",
                         "购买", "下单", "支付", "成交"),
    EventType.REFUND: ("refund", "return", "returned", "cancel", "cancellation", "退款", "退货",
                       "取消"),
}
# fmt: on
EVENT_TYPE_SYNONYMS: dict[str, str] = {
    **{word: kind.value for kind, words in _EVENT_WORDS.items() for word in words},
    **{e.value: e.value for e in EventType},
}

# --- users side table: consent and contact columns (normalised names, as above) ----------------
# fmt: off
CONSENT_SYNONYMS: tuple[str, ...] = (
    "consent", "consentemail", "emailconsent", "emailoptin", "optin", "optinemail", "emailoptedin",
    "acceptsmarketing", "acceptsemailmarketing", "acceptsemail", "marketingconsent",
    "marketingoptin", "newsletter", "subscribed", "emailsubscribed", "subscribedtoemail",
    "subscribedtonewsletter", "newslettersubscriber", "allowemail", "emailallowed",
    "是否同意营销", "同意营销", "营销同意", "是否订阅", "订阅", "邮件订阅", "是否接收营销邮件",
)
SIDE_ID_SYNONYMS: tuple[str, ...] = (  # customer ids of side tables, beyond the events' names
    "householdkey", "householdid", "household", "hhkey", "contactid", "subscriberid", "recipient",
    "recipientid", "email", "emailaddress", "邮箱",
)
USER_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    EMAIL: ("email", "emailaddress", "mail", "customeremail", "邮箱", "电子邮件", "邮件地址"),
    PHONE: ("phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cellphone",
            "defaultaddressphone", "手机", "手机号", "电话", "联系电话"),
    COUNTRY: ("country", "countrycode", "defaultaddresscountrycode", "nation", "国家", "国家地区"),
    SIGNUP_DATE: ("signupdate", "signup", "signedup", "createdat", "registered", "registrationdate",
                  "registerdate", "joined", "joindate", "customersince", "firstseen", "注册时间",
                  "注册日期"),
}
# fmt: on
