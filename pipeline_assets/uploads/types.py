"""The column types detection can assign, and the header words that hint at them."""

from __future__ import annotations

from enum import Enum


class ColumnType(str, Enum):
    PERSON_NAME = "person_name"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    DATE = "date"
    URL = "url"
    CURRENCY = "currency"
    NUMBER = "number"
    POSTAL_CODE = "postal_code"
    VIN = "vin"
    TEXT = "text"


# Header words per type. A hint only adds a bonus to the value evidence (see
# detect.py): a misleading header ("phone" over a column of e-mails) cannot
# outvote what the values are.
HEADER_HINTS: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.PERSON_NAME: ("name", "fullname", "contact", "customer", "person", "firstname", "lastname",
                             "surname", "nombre", "nom", "buyer", "owner", "recruiter", "candidate"),
    ColumnType.EMAIL: ("email", "e_mail", "mail", "courriel", "correo"),
    ColumnType.PHONE: ("phone", "tel", "telephone", "mobile", "cell", "fax", "telefono", "whatsapp"),
    ColumnType.ADDRESS: ("address", "street", "addr", "mailing", "direccion", "adresse"),
    ColumnType.DATE: ("date", "dob", "birthday", "created", "updated", "since", "day", "at", "on", "fecha"),
    ColumnType.URL: ("url", "website", "web", "link", "homepage", "site", "href"),
    ColumnType.CURRENCY: ("price", "amount", "cost", "salary", "revenue", "value", "total", "msrp", "fee",
                          "budget", "pay", "balance", "spend", "ltv"),
    ColumnType.NUMBER: ("qty", "quantity", "count", "number", "num", "year", "mileage", "miles", "age", "score",
                        "units", "id"),
    ColumnType.POSTAL_CODE: ("zip", "zipcode", "postal", "postcode", "postalcode", "cp", "plz"),
    ColumnType.VIN: ("vin", "chassis", "vehicle_id", "vehicleid"),
    ColumnType.TEXT: ("notes", "note", "comment", "comments", "description", "remarks", "memo"),
}

# When two types fit equally well, the more specific one wins ("12345" is a
# postal code before it is an amount; a VIN is text too).
SPECIFICITY: tuple[ColumnType, ...] = (
    ColumnType.EMAIL, ColumnType.URL, ColumnType.VIN, ColumnType.PHONE, ColumnType.DATE, ColumnType.POSTAL_CODE,
    ColumnType.CURRENCY, ColumnType.NUMBER, ColumnType.ADDRESS, ColumnType.PERSON_NAME, ColumnType.TEXT)
